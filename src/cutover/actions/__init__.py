"""cutover.actions."""
