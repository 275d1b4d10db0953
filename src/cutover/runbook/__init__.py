"""cutover.runbook."""
