"""The public face: a short, explicit list of names (docs/architecture.md, "Extension points")."""

from __future__ import annotations

from pathlib import Path

import pytest

import cutover

ROOT = Path(__file__).resolve().parents[1]


def test_the_exported_names() -> None:
    assert sorted(cutover.__all__) == sorted(
        [
            "__version__",
            "Action",
            "BackendKind",
            "Change",
            "CheckExit",
            "CutoverError",
            "Diff",
            "Model",
            "Reason",
            "Reconciled",
            "RecordingAction",
            "RunExit",
            "StepBase",
            "StepProblem",
            "VarOverrides",
            "load_checks",
            "load_runbook",
            "register_kind",
        ]
    )
    assert sorted(cutover._EXPORTS) == sorted(n for n in cutover.__all__ if n != "__version__")
    for name in cutover.__all__:
        assert getattr(cutover, name) is not None


def test_the_public_face_loads_the_shipped_files() -> None:
    loaded = cutover.load_runbook(ROOT / "runbooks" / "pypi-files.yml", environment="lab")
    assert loaded.model.name == "pypi-files"
    checks = cutover.load_checks(ROOT / "checks" / "pypi-files.yml")
    assert "files-miss" in checks.model.sets


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        cutover.nope  # noqa: B018
