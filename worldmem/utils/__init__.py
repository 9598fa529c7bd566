"""Small shared helpers: input checks and atomic file writes."""
