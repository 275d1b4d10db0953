"""Dry runs: a runbook rehearsed against a private, throwaway copy of its real targets.

``cutover run RUNBOOK --env production --dry-run`` captures, read-only, what the runbook's
steps touch (:mod:`cutover.dryrun.copies`: one *rehearsal* per backend kind), starts the
copies on loopback, runs every stage against them with the runbook's own probes sent to
the copies through the resolve map, and removes them. Nothing in production is written.
"""
