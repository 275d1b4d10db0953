"""One round of ``cutover check``: its results, counts and Nagios status.

The status of a round, first match wins (``docs/check.md``):

1. the round could not run (``error``), or no probe ran → UNKNOWN (3);
2. a probe failed with a zero-tolerance reason (redirect loop, checksum mismatch, wrong
   final host, insecure redirect: never noise) → CRITICAL (2);
3. failures and failure rate ≥ ``critical`` → CRITICAL (2);
4. failure rate > ``warning`` → WARNING (1);
5. otherwise OK (0). ``flaky`` probes pass (they are counted and shown, never hidden).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property

from cutover.errors import CheckExit
from cutover.probes.result import ProbeResult
from cutover.reasons import ZERO_TOLERANCE_DEFAULT, Reason


@dataclass(frozen=True)
class CheckRound:
    check: str  #: the checks file's ``name``
    source: str  #: the checks file's path
    environment: str | None
    number: int  #: 1-based
    started: float  #: epoch seconds
    duration: float  #: seconds
    results: tuple[ProbeResult, ...] = ()
    warning: float = 0.0
    critical: float = 0.1
    error: str | None = None  #: why the round could not run (then: UNKNOWN)
    sets: tuple[str, ...] = field(default=())
    interval: float | None = None  #: ``--every`` in seconds (None: one round)

    @property
    def overran(self) -> bool:
        """The round took longer than its interval (the next start was skipped)."""
        return self.interval is not None and self.duration > self.interval

    @property
    def total(self) -> int:
        return len(self.results)

    @cached_property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    @cached_property
    def flaky(self) -> int:
        return sum(1 for r in self.results if r.reason is Reason.FLAKY)

    @property
    def passed(self) -> int:
        return self.total - self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @cached_property
    def reasons(self) -> Counter[Reason]:
        return Counter(r.reason for r in self.results)

    @cached_property
    def status(self) -> CheckExit:
        if self.error is not None or not self.results:
            return CheckExit.UNKNOWN
        if any(r.reason in ZERO_TOLERANCE_DEFAULT for r in self.results):
            return CheckExit.CRITICAL
        if self.failed and self.failure_rate >= self.critical:
            return CheckExit.CRITICAL
        if self.failure_rate > self.warning:
            return CheckExit.WARNING
        return CheckExit.OK

    def summary(self) -> str:
        """One line: ``CRITICAL - 3 of 14 probes failed (21.4%): redirect_loop 2, http_5xx 1``."""
        head = f"{self.status.name} - "
        if self.error is not None:
            return head + self.error
        if not self.results:
            return head + "no probes to run"
        flaky = f", {self.flaky} flaky" if self.flaky else ""
        if not self.failed:
            return head + f"{self.total}/{self.total} probes passed{flaky}"
        counts = ", ".join(
            f"{reason.value} {n}" for reason, n in self.reasons.most_common() if not reason.passed
        )
        return head + (
            f"{self.failed} of {self.total} probes failed "
            f"({self.failure_rate:.1%}){flaky}: {counts}"
        )

    def by_set(self) -> dict[str, CheckRound]:
        """This round cut by probe set (each part judged alone, with the same thresholds);
        every set of the round, in order, even one that ran no probe."""
        names = dict.fromkeys(self.sets or tuple(r.set for r in self.results))
        return {
            name: replace(
                self, sets=(name,), results=tuple(r for r in self.results if r.set == name)
            )
            for name in names
        }

    def ordered(self) -> list[ProbeResult]:
        """Failures first, then flaky passes, then the rest; otherwise in probe order."""
        rank = {False: 0}
        return sorted(self.results, key=lambda r: rank.get(r.ok, 2 if r.reason is Reason.OK else 1))
