"""cutover.probes."""
