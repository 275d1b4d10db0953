"""A redirect the CDN cached outlives its rollback unless ``rollback.purge`` purges it.

The runbook's stage makes the files service answer its hash paths with a 301 to pypi.org
(a ``fetch`` snippet: a backend answer turned into a redirect, tagged with a surrogate
key), which loops (pypi.org sends /packages/ back): the guard fails, the version is rolled
back. The edge keeps the 301 (no caching header: the default TTL), so the verification,
asking the same URL without cache-busting, still gets it, unless the rollback purges it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from cutover.errors import RunExit
from cutover.lab.packages import default_catalog

FILE = default_catalog().files[0]
PINNED = f"http://files.pythonhosted.org{FILE.url_path}?pinned"

RUNBOOK = """\
version: 1
name: cached-redirect
environments:
  lab:
    lab: {{scenario: pypi-2018}}
backends:
  cdn:
    kind: fastly
    api_url: "{{{{ lab.api_url }}}}"
    token: "env:{{{{ lab.token_env }}}}"
    services: {{files: "{{{{ lab.service_ids.files }}}}", ghost: no-such-service}}
probes:
  pinned:
    defaults: {{cache_bust: false, expect: {{max_hops: 0}}}}
    probes:
      - {{name: a, url: "{url}"}}
      - {{name: b, url: "{url}"}}
      - {{name: c, url: "{url}"}}
guard: {{acceptable_rate: 0.2, unacceptable_rate: 0.9, min_samples: 3, budget: 20s}}
stages:
  - name: move-files
    steps:
      - name: files redirect to pypi.org
        backend: cdn
        service: files
        version:
          snippets:
            moved:
              type: fetch
              content: |
                if (req.url.path ~ "^/packages/") {{
                  set beresp.status = 301;
                  set beresp.http.Location = "http://pypi.org" req.url;
                  set beresp.http.Surrogate-Key = "moved";
                }}
    probes: [pinned]
rollback:
  verify: [pinned]
  budget: 20s
{purge}"""

PURGE = "  purge:\n    - {backend: cdn, service: files, keys: [moved]}\n"


def rows(state: Path, run_id: str) -> list[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        return list(
            db.execute("SELECT kind, data FROM events WHERE run_id = ? ORDER BY id", (run_id,))
        )


def run(cli, tmp_path: Path, purge: str) -> tuple[int, str, str, Path]:  # type: ignore[no-untyped-def]
    runbook = tmp_path / "cached-redirect.yml"
    runbook.write_text(RUNBOOK.format(url=PINNED, purge=purge))
    state = tmp_path / "state"
    proc = cli("run", runbook, "--env", "lab", "--yes", "--state-dir", state)
    first = proc.stdout.splitlines()[0]
    return proc.returncode, proc.stdout + proc.stderr, first.split()[1].rstrip(":"), state


@pytest.mark.slow
def test_without_purge_the_cached_301_outlives_the_rollback(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, run_id, state = run(cli, tmp_path, purge="")
    assert code == RunExit.NEEDS_ATTENTION, out
    assert "sets a redirect on the CDN, but rollback.purge purges nothing" in out
    assert "the rollback could not be verified: redirect_loop seen (zero tolerance)" in out
    kinds = [kind for kind, _ in rows(state, run_id)]
    assert kinds[kinds.index("rollback_started") :] == [
        "rollback_started",
        "rolled_back",
        "probe_round",
        "guard",
        "rollback_unverified",
        "needs_attention",
    ]


@pytest.mark.slow
def test_rollback_purge_removes_the_cached_301(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, run_id, state = run(cli, tmp_path, purge=PURGE)
    assert code == RunExit.ROLLED_BACK, out
    assert "rollback.purge purges nothing" not in out
    assert "  purged after the rollback: files (rollback.purge 0)" in out
    journal = rows(state, run_id)
    kinds = [kind for kind, _ in journal]
    assert kinds[kinds.index("rollback_started") :] == [
        "rollback_started",
        "rolled_back",
        "rollback_purged",
        "probe_round",
        "guard",
        "rollback_verified",
    ]
    purged = json.loads(next(data for kind, data in journal if kind == "rollback_purged") or "{}")
    ids = purged.pop("ids")
    assert len(ids) == 1 and ids[0]
    assert purged == {
        "purge": 0,
        "backend": "cdn",
        "service": "files",
        "urls": [],
        "keys": ["moved"],
        "all": False,
        "soft": False,
    }


@pytest.mark.slow
def test_a_purge_that_fails_leaves_the_run_needing_attention(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    purge = (
        "  purge:\n    - {backend: cdn, service: ghost, all: true}\n"
        "    - {backend: cdn, service: files, keys: [moved]}\n"
    )
    code, out, run_id, state = run(cli, tmp_path, purge=purge)
    assert code == RunExit.NEEDS_ATTENTION, out
    assert (
        "the purge after the rollback failed: rollback purge 0: fastly:"
        " POST /service/no-such-service/purge_all refused: 404 Record not found:"
        " Cannot find service 'no-such-service'"
    ) in out
    assert f"finish with: cutover rollback {run_id}" in out
    journal = rows(state, run_id)
    kinds = [kind for kind, _ in journal]
    assert kinds[kinds.index("rollback_started") :] == [
        "rollback_started",
        "rolled_back",
        "rollback_purge_failed",
        "rollback_purged",  # every entry is tried
        "needs_attention",
    ]
