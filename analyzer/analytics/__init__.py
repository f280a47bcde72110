"""The questions an analyst asks, as queries: no HTTP here."""
