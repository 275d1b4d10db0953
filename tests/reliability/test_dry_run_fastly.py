"""``cutover run --dry-run`` of the shipped Fastly runbook, with a served lab as "production".

The lab (``cutover lab serve``, its own process) stands in for Fastly: the runbook's
``production`` environment is pointed at it with ``--var`` (API, token, service IDs) and a
resolve map. A dry run captures its services, serves the capture from a private lab,
runs every stage there and removes it: "production"'s control-plane state and state file
must be byte-identical after a dry run that passes and after one that fails (the fix
skipped: the first ramp stage loops), and the real runs that follow must have the exit
codes the dry runs predicted.
"""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.cli.dry_run import MARK
from cutover.errors import RunExit

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = (
    "  production:\n    description: Fastly; service IDs are the PSF's (replace with yours)\n"
)


def _project(tmp_path: Path, data_address: str) -> Path:
    """The shipped runbook and checks, production resolving the lab's hostnames."""
    for part in ("runbooks", "checks"):
        shutil.copytree(ROOT / part, tmp_path / part)
    runbook = tmp_path / "runbooks" / "pypi-files.yml"
    text = runbook.read_text(encoding="utf-8")
    assert PRODUCTION in text
    hosts = ["pypi.org", "pypi.python.org", "files.pythonhosted.org"]
    resolve = ", ".join(f"{h}: '{data_address}'" for h in hosts)
    runbook.write_text(text.replace(PRODUCTION, f"{PRODUCTION}    resolve: {{{resolve}}}\n"))
    return runbook


def _args(lab: Any, runbook: Path, *extra: str) -> list[str]:
    ids = lab.service_ids
    pairs = {
        "fastly_api": lab.api_url,
        "fastly_token": "env:CUTOVER_TEST_FASTLY_TOKEN",
        "legacy_service": ids["legacy"],
        "warehouse_service": ids["warehouse"],
        "files_service": ids["files"],
        "scheme": "http",
        # the lab's packages (as the checks file's `lab` environment says)
        "version": "1.3.1",
        "wheel_tag": "py2.py3",
        "bulk_project": "lab-fleet",
        "fastly_timeout": "5s",
        "fastly_retries": "8",
    }
    args = ["--env", "production", "--yes", "--include-root", str(runbook.parents[1])]
    for key, value in [*pairs.items(), *(e.split("=", 1) for e in extra)]:
        args += ["--var", f"{key}={value}"]
    return args


def _production(lab: Any) -> tuple[Any, bytes]:
    files = sorted((lab.state_dir / "lab").glob("*.json"))
    return lab.state(), b"".join(p.read_bytes() for p in files)


@pytest.mark.slow
def test_a_fastly_dry_run_leaves_production_untouched_and_predicts_the_real_runs(
    cli: Any, lab: Any, tmp_path: Path
) -> None:
    runbook = _project(tmp_path / "project", str(lab.info["data_address"]))
    env = {"CUTOVER_TEST_FASTLY_TOKEN": lab.token, "TMPDIR": str(tmp_path)}
    state = tmp_path / "runs"
    before = _production(lab)
    verdicts = {}
    for name, extra in (("careful", ()), ("skip_fix", ("skip_fix=true",))):
        dry = cli("run", runbook, "--dry-run", "--state", state, *_args(lab, runbook, *extra),
                  env=env, timeout=300)  # fmt: skip
        verdicts[name] = dry.returncode
        assert _production(lab) == before, name  # not one setting, item or version
        assert "a private lab at http://127.0.0.1:" in dry.stdout, dry.stdout + dry.stderr
        assert "serving a capture of 3 service(s)" in dry.stdout
        lines = [line for line in dry.stdout.splitlines() if line.strip()]
        assert all(line.startswith(MARK) for line in lines), dry.stdout
        assert lab.token not in dry.stdout + dry.stderr
    assert verdicts == {"careful": RunExit.OK, "skip_fix": RunExit.ROLLED_BACK}
    assert [p for p in tmp_path.iterdir() if p.name.startswith("cutover-dry-run-")] == []

    # the real runs, against "production", have the predicted exit codes
    for name, extra in (("skip_fix", ("skip_fix=true",)), ("careful", ())):
        args = _args(lab, runbook, *extra)
        real = cli("run", runbook, "--state", state, *args, env=env, timeout=300)
        assert real.returncode == verdicts[name], name + real.stdout + real.stderr
    assert _production(lab) != before  # the careful run did migrate "production"


def test_the_copy_answers_https_for_the_captured_names_with_its_own_ca(tmp_path: Path) -> None:
    from cutover.dryrun.tls import copy_tls
    from cutover.lab import start_lab
    from cutover.probes import ProbeRunner, Reason
    from cutover.runbook.probe_models import ProbeSpec

    context, bundle = copy_tls(tmp_path / "tls", ["files.pythonhosted.org", "pypi.org"])
    assert oct((tmp_path / "tls" / "server.key").stat().st_mode & 0o777) == "0o600"
    with start_lab(tls=context) as lab:
        assert lab.tls_address is not None
        # the URL names the real host (SNI, certificate check); the socket is the copy's
        resolve = {"pypi.org": lab.tls_address, "files.pythonhosted.org": lab.tls_address}
        with ProbeRunner(resolve=resolve, ca_bundle=str(bundle), concurrency=1) as runner:
            result = runner.probe(ProbeSpec(url="https://pypi.org/simple/sampleproject/"), "t")
        assert result.reason is Reason.OK, result
        assert result.hops[0].status == 200
        untrusted = ssl.create_default_context()  # the system CAs never trust the copy
        transport = httpx.HTTPTransport(verify=untrusted)
        with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError):
            client.get(f"https://{lab.tls_address}/", headers={"Host": "pypi.org"})
