"""The built-in notifier: apprise (one library, 100+ services, a URL each).

Every delivery gets apprise's own connect and read timeouts (``cto``/``rto``) set to the
target's ``timeout``; apprise reports a failure by returning False and logging, so its log
lines of that delivery are captured and become the :class:`DeliveryError`'s text.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any
from urllib.parse import urlsplit

import apprise

from cutover.notify.registry import DeliveryError, Notifier

logging.getLogger("apprise").addHandler(logging.NullHandler())  # never on the run's screen
with warnings.catch_warnings():
    # apprise loads its plugins on first use, once; its email plugin imports the
    # deprecated `imghdr` (Python 3.11, 3.12): load them here, not in a run's thread
    warnings.simplefilter("ignore", DeprecationWarning)
    apprise.Apprise().add("json://localhost")
_capture: Any = apprise.LogCapture  # untyped


def _bounded(url: str, timeout: float) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}cto={timeout:g}&rto={timeout:g}"


class AppriseNotifier(Notifier):
    name = "apprise"

    def check(self, url: str) -> str | None:
        if apprise.Apprise().add(url):
            return None
        return "is not a URL apprise knows (see https://github.com/caronc/apprise/wiki)"

    def deliver(self, url: str, title: str, body: str, timeout: float) -> None:
        sender = apprise.Apprise()
        if not sender.add(_bounded(url, timeout)):
            raise DeliveryError("not a URL apprise knows")
        with _capture(level=logging.WARNING) as captured:
            sent = sender.notify(body=body, title=title)
            said = captured.getvalue().strip().splitlines()
        if not sent:
            why = said[-1].split(" - ", 2)[-1] if said else "apprise reported a failure"
            raise DeliveryError(why)


APPRISE = AppriseNotifier()
