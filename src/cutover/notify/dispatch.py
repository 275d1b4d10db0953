"""Delivering notifications without ever stopping or slowing the run.

The run's view is tapped (:meth:`Dispatcher.tap`): each event the engine shows is
composed into a message (:mod:`cutover.notify.messages`) and *offered* to every
subscribed target's queue, which never blocks: a queue holds at most
:data:`QUEUE_SIZE` messages, and one offered to a full queue is dropped (logged and
journaled). One background thread per target delivers its queue in order, each
delivery bounded by the target's ``timeout``; a failure is logged and journaled as
``notify_failed`` (redacted) and the next message is tried. When the run ends,
:meth:`Dispatcher.close` gives the queues at most :data:`DRAIN_SECONDS` (or the longest
target timeout, if longer) to empty; the threads are daemons, so a notifier that hangs
past every bound is left behind, never waited for. What it had not delivered by then
(the message in flight and those still queued) is journaled as dropped by ``close``
itself, and a worker left behind never logs or journals again: after ``close`` the
journal and the log may be gone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cutover.errors import InputError, SecretError
from cutover.events import EventKind
from cutover.journal import Journal
from cutover.log import get_logger
from cutover.notify.messages import LINKED_EVENTS, Composer, Message
from cutover.notify.registry import NOTIFIERS, Notifier
from cutover.runbook.control_models import NotifyTarget
from cutover.secrets import clip, resolve

QUEUE_SIZE = 64  #: messages waiting per target; more are dropped (a run sends ~20)
DRAIN_SECONDS = 5.0  #: how long the end of a run waits for the queues to empty
View = Callable[[EventKind, dict[str, Any]], None]
_STOP = None

log = get_logger(__name__)


@dataclass
class Target:
    """One configured target, its URL resolved and checked."""

    label: str  #: ``notify[N] (kind)``: never the URL, which carries tokens
    config: NotifyTarget
    notifier: Notifier
    url: str

    @classmethod
    def of(cls, index: int, config: NotifyTarget) -> Target:
        """Resolve and check the target before the run changes anything (exit 2 if not)."""
        label = f"notify[{index}] ({config.kind})"
        notifier = NOTIFIERS.get(config.kind)
        url = resolve(config.url)
        problem = notifier.check(url)
        if problem is not None:
            raise InputError(f"{label}: the URL in {config.url} {problem}")
        return cls(label, config, notifier, url)


class Dispatcher:
    """The notifications of one run."""

    def __init__(self, targets: Sequence[Target], compose: Composer, journal: Journal):
        self.compose = compose
        self.journal = journal
        self._queues = [(t, queue.Queue[Message | None](QUEUE_SIZE)) for t in targets]
        self._closed = False
        self._lock = threading.Lock()  #: close() and a worker's journal write never overlap
        self._in_flight: dict[str, Message] = {}  #: target label -> the message being sent
        self._threads = [
            threading.Thread(target=self._deliver_all, args=pair, daemon=True, name=pair[0].label)
            for pair in self._queues
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def configure(
        cls, configs: Sequence[NotifyTarget], compose: Composer, journal: Journal
    ) -> Dispatcher:
        try:
            targets = [Target.of(i, c) for i, c in enumerate(configs)]
        except SecretError as exc:
            raise InputError(f"notify: {exc.message}", hint=exc.hint) from None
        return cls(targets, compose, journal)

    def tap(self, view: View) -> View:
        """``view``, and every event it shows offered to the notifiers."""
        if not self._queues:
            return view

        def shown(kind: EventKind, data: dict[str, Any]) -> None:
            view(kind, data)
            self.offer(kind, data)

        return shown

    def offer(self, kind: EventKind, data: dict[str, Any]) -> None:
        """Queue the event's message for every target subscribed to it; never blocks."""
        try:
            message = self.compose(kind, data)
        except Exception as exc:  # composing must not stop the run either
            log.warning("notification not composed", error=str(exc))
            return
        if message is None:
            return
        for target, waiting in self._queues:
            if message.event not in target.config.events:
                continue
            try:
                waiting.put_nowait(message)
            except queue.Full:
                self._failed(target, message, f"{QUEUE_SIZE} messages waiting: dropped")

    def close(self) -> None:
        """Let the queues empty, for a bounded time; then leave them."""
        if not self._queues:
            return
        grace = max([DRAIN_SECONDS, *(t.config.timeout for t, _ in self._queues)])
        deadline = time.monotonic() + grace
        for _, waiting in self._queues:
            try:
                waiting.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                continue
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        late = f"not delivered within {grace:g}s of the run's end: dropped"
        with self._lock:
            for target, waiting in self._queues:
                left = [self._in_flight.get(target.label), *_drain(waiting)]
                for message in left:
                    if message is not None:
                        self._record(target, message, late)
                waiting.put_nowait(_STOP)  # emptied: a worker left behind ends when it is free
            self._closed = True

    def _deliver_all(self, target: Target, waiting: queue.Queue[Message | None]) -> None:
        while (message := waiting.get()) is not _STOP:
            config = target.config
            body = message.body
            link = self.link(config, message)
            if link is not None:
                body += f"\nreport: {link}"
            self._in_flight[target.label] = message
            try:
                target.notifier.deliver(target.url, message.title, body, config.timeout)
            except Exception as exc:  # any notifier's failure: journaled, never raised
                self._failed(target, message, str(exc) or type(exc).__name__)
            finally:
                self._in_flight.pop(target.label, None)

    def link(self, config: NotifyTarget, message: Message) -> str | None:
        """Where the message points for the run's report: the target's ``link`` template
        (every message), else the file the run writes at its end (``--report``), from
        the messages that end or hold the run."""
        if config.link:
            return config.link.replace("{run_id}", self.compose.run_id)
        if self.compose.report is not None and message.event in LINKED_EVENTS:
            return self.compose.report
        return None

    def _failed(self, target: Target, message: Message, error: str) -> None:
        """Log and journal an undelivered message, unless the run has ended (``close``
        has journaled what was left); never raises (a worker must live on)."""
        with self._lock:
            if not self._closed:
                self._record(target, message, error)

    def _record(self, target: Target, message: Message, error: str) -> None:
        try:
            error = clip(error.replace(target.url, target.config.url), 300)
            log.warning("notification failed", target=target.label, what=message.event, error=error)
            self.journal.event(
                self.compose.run_id,
                EventKind.NOTIFY_FAILED,
                target=target.label,
                event=message.event,
                error=error,
            )
        except Exception as exc:  # the journal is away: the run will say so itself
            log.warning("notify_failed not journaled", error=str(exc))


def _drain(waiting: queue.Queue[Message | None]) -> list[Message | None]:
    """What is still queued, taken out (at most :data:`QUEUE_SIZE` + 1 items)."""
    out: list[Message | None] = []
    for _ in range(QUEUE_SIZE + 1):
        try:
            out.append(waiting.get_nowait())
        except queue.Empty:
            break
    return out
