"""``cutover lab serve`` in its own process, and views of the lab's state for oracles.

- :class:`ServedLab`: the lab served for one state directory (commands given that state
  directory attach to it, as they would to a real CDN); its admin API (state, reset,
  API faults). It runs in its own session, so :meth:`ServedLab.stop` ends it and nothing
  else, and it checks that the lab's ports are closed afterwards.
- :func:`fingerprint`: the lab's settings that a runbook may change, per service: the
  active version's domains and settings, and its dictionaries' items. Version numbers
  are left out on purpose: a rolled-back version step leaves an inactive version behind
  (Fastly keeps every version), and a clone retried after a lost answer leaves an extra
  draft; neither is served.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from cutover.lab.scenarios import FIX_2018
from cutover.testing.cli import cli_env, cutover_argv, stop_process
from cutover.testing.net import port_closed, wait_for

START_TIMEOUT_S = 30.0


class ServedLab:
    """``cutover lab serve --state-dir STATE_DIR`` on free ports, in its own process.

    Use it as a context manager. ``log`` defaults to ``STATE_DIR/lab-serve.log``.
    """

    def __init__(self, state_dir: Path, *, seed: int = 0, log: Path | None = None) -> None:
        self.state_dir = state_dir
        self.seed = seed
        self.log_path = log or state_dir / "lab-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._client: httpx.Client | None = None

    def start(self) -> ServedLab:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = cutover_argv(
            "lab", "serve", "--state-dir", self.state_dir, "--port", "0", "--api-port", "0",
            "--seed", str(self.seed),
        )  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env=cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.info = wait_for("the lab's endpoint file", self._published, START_TIMEOUT_S)
            self._client = httpx.Client(
                base_url=self.api_url, headers={"Fastly-Key": self.token}, timeout=10.0
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _published(self) -> dict[str, Any] | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the lab exited {self.proc.returncode} early: {self.log()}")
        try:
            info = json.loads((self.state_dir / "lab" / "endpoint.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and info.get("pid") == self.proc.pid else None

    def log(self) -> str:
        """The tail of the lab's output."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]

    @property
    def token(self) -> str:
        return str(self.info["token"])

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def service_ids(self) -> dict[str, str]:
        return dict(self.info["service_ids"])

    def addresses(self) -> list[str]:
        """``HOST:PORT`` of the API and the data plane (once started)."""
        if not self.info:
            return []
        return [self.api_url.removeprefix("http://"), str(self.info["data_address"])]

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """A call to the lab's admin API (``/lab/...``: never subject to API faults)."""
        assert self._client is not None, "the lab is not started"
        response = self._client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/lab/state"))

    def reset(self) -> None:
        """The scenario's initial state; API and backend faults cleared."""
        self.admin("POST", "/lab/reset")

    def api_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self.admin("PUT", "/lab/faults/api", faults))

    def clear_faults(self) -> None:
        self.admin("DELETE", "/lab/faults")

    def stop(self) -> None:
        """Stop the lab (its whole session); fail if one of its ports is still open."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, group=True)
        for address in self.addresses():
            assert port_closed(address), f"lab port {address} still open after the lab stopped"

    def __enter__(self) -> ServedLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- what the lab serves -----------------------------------------------------------------------

Fingerprint = dict[str, dict[str, Any]]


def fingerprint(state: Mapping[str, Any]) -> Fingerprint:
    """Per service name: the active version's domains and settings, its dictionaries' items."""
    out: Fingerprint = {}
    for service in state["services"]:
        active = [v for v in service["versions"] if v["active"]]
        assert len(active) == 1, f"{service['name']}: {len(active)} active versions"
        version = active[0]
        items = service.get("items", {})
        out[service["name"]] = {
            "domains": sorted(d["name"] for d in version["domains"]),
            "settings": dict(version["settings"]),
            "snippets": {x["name"]: x["content"] for x in version.get("snippets", [])},
            "dictionaries": {
                d["name"]: {k: v["value"] for k, v in sorted(items.get(d["id"], {}).items())}
                for d in version["dictionaries"]
            },
        }
    return out


def locked_versions(state: Mapping[str, Any]) -> dict[str, int]:
    """Per service: versions ever activated (the lab, like Fastly, locks them on activation)."""
    return {s["name"]: sum(1 for v in s["versions"] if v["locked"]) for s in state["services"]}


def draft_versions(state: Mapping[str, Any]) -> dict[str, int]:
    """Per service: versions never activated (e.g. a clone whose answer was lost)."""
    return {s["name"]: sum(1 for v in s["versions"] if not v["locked"]) for s in state["services"]}


def migrated(initial: Fingerprint) -> Fingerprint:
    """What ``runbooks/pypi-files.yml`` leaves once completed, derived from the initial state.

    Written from the runbook by hand, so a run is checked against an independent oracle:
    files signs on the origin-facing node only; legacy no longer claims the bucket host;
    legacy redirects every path with a 301.
    """
    want = json.loads(json.dumps(initial))
    want["files"]["snippets"]["s3-signing"] = FIX_2018["s3-signing"]
    legacy = want["legacy"]
    legacy["domains"] = [d for d in legacy["domains"] if d != "pypi-files.s3.amazonaws.com"]
    legacy["dictionaries"]["redirects"].update({"mode": "301", "percent": "100", "prefixes": "/"})
    legacy["dictionaries"]["redirects"] = dict(sorted(legacy["dictionaries"]["redirects"].items()))
    return dict(want)
