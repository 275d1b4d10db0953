"""validate, schema and plan through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

from cutover.errors import RunExit


def test_shipped_files_validate(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("validate", "runbooks/pypi-files.yml", "checks/pypi-files.yml")
    assert proc.returncode == RunExit.OK, proc.stderr
    assert proc.stdout.splitlines() == [
        "runbooks/pypi-files.yml: ok (runbook, 7 stages, 7 steps, environments: lab, production)",
        proc.stdout.splitlines()[1],
    ]
    assert proc.stdout.splitlines()[1] == (
        "checks/pypi-files.yml: ok (checks file, 8 probe sets (7 in the smoke check), "
        "15 probes/expansions)"
    )
    assert proc.stderr == ""


def test_invalid_file_exit_2_without_traceback(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nenvironments: {lab: {}}\nstages:\n  - nme: a\n", encoding="utf-8")
    proc = cli("validate", bad, cwd=tmp_path)
    assert proc.returncode == RunExit.INVALID
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "bad.yml:4:5: stages[0].name: missing required key 'name'",
        "bad.yml:4:5: stages[0].nme: unknown key 'nme'",
        "  hint: did you mean 'name'?",
    ]


def test_strict_turns_warnings_into_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        "name: x\nenvironments: {lab: {}}\nbackends: {sh: {kind: shell}}\n"
        "stages:\n  - name: a\n    steps:\n      - {name: t, backend: sh, command: [true],"
        " undo: [true]}\n"
    )
    path = tmp_path / "w.yml"
    path.write_text(text, encoding="utf-8")
    relaxed = cli("validate", "w.yml", cwd=tmp_path)
    assert relaxed.returncode == RunExit.OK
    assert "w.yml:5:5: stages[0].probes: warning: stage 'a' changes something" in relaxed.stderr
    assert "w.yml:3:16: backends.sh: warning: shell backend 'sh' has no lock_key" in relaxed.stderr
    strict = cli("validate", "--strict", "w.yml", cwd=tmp_path)
    assert strict.returncode == RunExit.INVALID
    assert strict.stderr.splitlines()[-1] == "w.yml: invalid (--strict: 3 warning(s))"


def test_schema_outputs_json_schema(cli) -> None:  # type: ignore[no-untyped-def]
    runbook = json.loads(cli("schema").stdout)
    checks = json.loads(cli("schema", "checks").stdout)
    assert runbook["title"] == "cutover runbook (v1)"
    assert "stages" in runbook["required"]
    assert checks["title"] == "cutover checks file (v1)"
    assert "sets" in checks["properties"]
    unknown = cli("schema", "nope")
    assert unknown.returncode == RunExit.INVALID
    assert "unknown schema 'nope'" in unknown.stderr


def test_plan_renders_stages_for_an_environment(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("plan", "runbooks/pypi-files.yml", "--env", "production")
    assert proc.returncode == RunExit.OK, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "runbook pypi-files — environment production"
    assert "stage 3: ramp-1" in lines
    assert "stage 7: permanent  [gate: confirm]" in lines
    skipped = cli("plan", "runbooks/pypi-files.yml", "--env", "lab", "--var", "skip_fix=true")
    assert "stage 2: fix-signing-scope  [SKIPPED]" in skipped.stdout.splitlines()


def test_plan_unknown_environment(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("plan", "runbooks/pypi-files.yml", "--env", "prod")
    assert proc.returncode == RunExit.INVALID
    assert proc.stderr.startswith("runbooks/pypi-files.yml:")
    assert "environments: no environment named 'prod'" in proc.stderr
    assert "did you mean 'production'?" in proc.stderr
