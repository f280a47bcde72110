"""Loading session and event exports: readers, column aliases, validation, sessionizing, bulk writes."""
