"""Notifiers: an extension type of the one registry (:mod:`cutover.plugins`).

A notifier delivers one message to one destination URL within a time bound, or raises
:class:`DeliveryError`. The built-in ``apprise`` covers apprise's services; a plugin
registers more under the ``cutover.notifiers`` entry-point group (docs/plugins.md).
"""

from __future__ import annotations

from cutover.plugins import Registry


class DeliveryError(Exception):
    """A message was not delivered; the text says why (it is redacted before use)."""


class Notifier:
    """Delivers messages to destinations of one kind."""

    name: str

    def check(self, url: str) -> str | None:
        """Why ``url`` cannot be used by this notifier (checked before the run), or None."""
        return None

    def deliver(self, url: str, title: str, body: str, timeout: float) -> None:
        """Send one message within ``timeout`` seconds; raise :class:`DeliveryError`."""
        raise NotImplementedError


NOTIFIERS: Registry[Notifier] = Registry(
    "notifier",
    group="cutover.notifiers",
    entry_type=Notifier,
    builtins=["cutover.notify.apprise_notifier:APPRISE"],
)
