"""Notifications: short, redacted messages about a run, sent where the runbook says.

``notify:`` in a runbook (and in an environment) lists targets; each names a notifier
(:mod:`cutover.notify.registry`; the built-in ``apprise`` speaks apprise URLs: Slack,
Teams, Discord, Matrix, email, PagerDuty, JSON and form webhooks…) and the events it
receives. What each event says is :mod:`cutover.notify.messages`; delivering them without
ever stopping or slowing the run is :mod:`cutover.notify.dispatch`. docs/notify.md.
"""
