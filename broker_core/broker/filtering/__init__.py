"""Broker-side message filtering: tag hash codes (storage spec 5.1) and SQL92 selectors (5.2–5.3)."""
