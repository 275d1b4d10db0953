"""cutover.lab."""
