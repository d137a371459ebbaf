"""Event simulation: physics model -> FaX-like instructions -> PMT raw_records."""
