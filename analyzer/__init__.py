"""Customer Session Analyzer: load customer sessions and answer an analyst's questions."""
