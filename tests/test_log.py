"""Log lines go to the stderr of the moment, never to a stream captured at set-up.

structlog is configured once (lazily); a stream captured then may be replaced and closed
later (a redirected stderr, a test's capture): every later log line, from any thread, hit
"I/O operation on closed file" (seen: notification workers after an earlier test).
"""

from __future__ import annotations

import io
import sys

import pytest

from cutover import log


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_replaced_and_closed_stderr_is_never_written_again(
    fmt: log.LogFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log.configure(fmt)  # type: ignore[arg-type]
    log.get_logger("t").warning("one", n=1)
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    log.get_logger("t").warning("two", n=2)  # the logger is not set up again
    assert "two" in second.getvalue() and "n=2" in second.getvalue().replace('"n": 2', "n=2")
    log.configure()
