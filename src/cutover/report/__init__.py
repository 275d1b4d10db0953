"""cutover.report."""
