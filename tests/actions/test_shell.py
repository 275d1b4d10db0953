"""The shell action: real subprocesses (touch, rm -f, python -c …)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cutover.actions.base import Reconciled
from cutover.actions.shell import ShellAction, run_command
from cutover.errors import ActionError, ReadBackError, RejectedActionError
from cutover.runbook.backends import ShellSettings, ShellStep
from cutover.runbook.kinds import KINDS
from cutover.runbook.loader import VarOverrides, load_runbook
from cutover.secrets import remember
from cutover.testing import wait_for

PY = sys.executable
WRITE_ARGV1 = "import sys; open('out', 'w').write(sys.argv[1])"


def make(tmp_path: Path, **fields: Any) -> ShellAction:
    settings = ShellSettings(cwd=str(tmp_path), timeout=fields.pop("timeout", 10))
    values: dict[str, Any] = {
        "name": "flag",
        "backend": "sh",
        "command": ["touch", "flag"],
        "undo": ["rm", "-f", "flag"],
    }
    values.update(fields)
    return ShellAction(settings, ShellStep(**values))


def test_apply_and_rollback_with_real_commands(tmp_path: Path) -> None:
    action = make(tmp_path)
    prior = action.snapshot()
    assert prior == {}
    assert not action.plan(prior).empty

    record = action.apply(prior)
    assert (tmp_path / "flag").exists()
    assert record == {"returncode": 0}

    action.rollback(prior, record)
    assert not (tmp_path / "flag").exists()
    action.rollback(prior, record)  # the undo is idempotent: twice is fine


def test_without_a_check_reconcile_says_it_may_have_run(tmp_path: Path) -> None:
    """After a crash between intent and applied, rollback must still undo: the command
    may have run. Undo is idempotent, so undoing a command that never ran is harmless."""
    action = make(tmp_path)
    assert action.reconcile({}, None) is Reconciled.APPLIED
    (tmp_path / "flag").touch()  # the command ran; the process died before `applied`
    action.rollback({}, None)
    assert not (tmp_path / "flag").exists()


def test_nonzero_exit_is_refused_with_the_stderr_tail_redacted(tmp_path: Path) -> None:
    remember("hunter2-secret")
    script = "import sys; print('\\n'.join(f'line {i}' for i in range(50)), file=sys.stderr); "
    script += "sys.exit('bad token hunter2-secret')"
    action = make(tmp_path, command=[PY, "-c", script])
    with pytest.raises(RejectedActionError) as caught:
        action.apply({})
    message = caught.value.message
    assert "exited 1" in message
    assert "bad token [REDACTED]" in message
    assert "hunter2" not in message
    assert "line 49" in message
    assert "line 10\n" not in message  # only the tail


def test_a_template_value_stays_one_literal_argument(tmp_path: Path) -> None:
    runbook = tmp_path / "runbook.yml"
    runbook.write_text(
        f"""\
version: 1
name: injection
vars: {{payload: harmless}}
environments: {{test: {{}}}}
backends:
  sh: {{kind: shell, cwd: "{tmp_path}"}}
stages:
  - name: only
    steps:
      - name: write the payload
        backend: sh
        command: ["{PY}", "-c", "{WRITE_ARGV1}", "{{{{ payload }}}}"]
        undo: [rm, -f, out]
"""
    )
    payload = "x; rm -rf / ; touch pwned $(touch pwned2) `touch pwned3` && echo"
    loaded = load_runbook(
        runbook, environment="test", overrides=VarOverrides(pairs=(f"payload={payload}",))
    )
    step = loaded.model.stages[0].steps[0]
    assert step.command[-1] == payload
    action = ShellAction(loaded.model.backends["sh"], step)

    action.apply(action.snapshot())

    assert (tmp_path / "out").read_text() == payload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runbook.yml"]


def test_env_and_cwd_come_from_the_backend(tmp_path: Path) -> None:
    settings = ShellSettings(cwd=str(tmp_path), env={"CUTOVER_TEST_COLOUR": "blue"})
    script = "import os; open('env', 'w').write(os.environ['CUTOVER_TEST_COLOUR'])"
    step = ShellStep(name="env", backend="sh", command=[PY, "-c", script], undo=["true"])
    ShellAction(settings, step).apply({})
    assert (tmp_path / "env").read_text() == "blue"


def test_a_missing_program_is_refused(tmp_path: Path) -> None:
    action = make(tmp_path, command=["no-such-program-cutover"])
    with pytest.raises(RejectedActionError, match="cannot run 'no-such-program-cutover'"):
        action.apply({})


def test_a_hanging_command_is_killed(tmp_path: Path) -> None:
    action = make(tmp_path, command=[PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    with pytest.raises(ActionError, match="did not finish"):
        action.apply({})


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script = (
        "import subprocess, time; child = subprocess.Popen(['sleep', '30']); "
        "open('child.pid', 'w').write(str(child.pid)); time.sleep(30)"
    )
    with pytest.raises(ActionError, match="killed"):
        run_command([PY, "-c", script], timeout=1, cwd=str(tmp_path))
    pid = int((tmp_path / "child.pid").read_text())
    wait_for("the process to end", lambda: not _running(pid), 10)


@pytest.mark.parametrize("error", [OverflowError, KeyboardInterrupt])
def test_an_unexpected_error_while_waiting_leaves_no_orphan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    """A timeout of 1e50 s once overflowed inside ``communicate`` and left the command
    running; whatever interrupts the wait (a bug, Ctrl-C), the process group is killed."""
    script = (
        "import subprocess, time; child = subprocess.Popen(['sleep', '30']); "
        "open('child.pid', 'w').write(str(child.pid)); time.sleep(30)"
    )

    def fail_while_waiting(self: subprocess.Popen[bytes], *args: Any, **kw: Any) -> Any:
        wait_for("the child's pid file", lambda: (tmp_path / "child.pid").exists(), 10)
        raise error("timestamp too large to convert to C _PyTime_t")

    monkeypatch.setattr(subprocess.Popen, "communicate", fail_while_waiting)
    with pytest.raises(error):
        run_command([PY, "-c", script], timeout=10, cwd=str(tmp_path))
    pid = int((tmp_path / "child.pid").read_text())
    wait_for("the process to end", lambda: not _running(pid), 10)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan may wait for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_failing_undo_is_refused(tmp_path: Path) -> None:
    action = make(tmp_path, undo=["false"])
    with pytest.raises(RejectedActionError, match="undo false exited 1"):
        action.rollback({}, None)


def test_irreversible_step_cannot_be_rolled_back(tmp_path: Path) -> None:
    action = make(tmp_path, undo=None, irreversible=True)
    action.apply({})
    with pytest.raises(RejectedActionError, match="irreversible"):
        action.rollback({}, None)


# --- with a check command -------------------------------------------------------------------

CHECK = ["test", "-e", "flag"]


def test_check_makes_state_exact(tmp_path: Path) -> None:
    action = make(tmp_path, check=CHECK)
    prior = action.snapshot()
    assert prior == {"applied": False}
    assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED

    record = action.apply(prior)
    assert record == {"returncode": 0, "applied": True}
    assert action.snapshot() == {"applied": True}
    assert action.reconcile(prior, record) is Reconciled.APPLIED
    assert action.plan(action.snapshot()).empty

    action.rollback(prior, record)
    assert not (tmp_path / "flag").exists()
    assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED


def test_with_a_check_rollback_skips_what_is_not_there(tmp_path: Path) -> None:
    """A non-idempotent undo is not run when the check says there is nothing to undo."""
    action = make(tmp_path, check=CHECK, undo=["rm", "flag"])  # `rm` fails on a missing file
    action.rollback({"applied": False}, None)
    action.apply({"applied": False})
    action.rollback({"applied": False}, None)
    action.rollback({"applied": False}, None)


def test_with_a_check_a_change_already_in_place_is_kept(tmp_path: Path) -> None:
    (tmp_path / "flag").touch()
    action = make(tmp_path, check=CHECK)
    prior = action.snapshot()
    assert prior == {"applied": True}
    action.rollback(prior, action.apply(prior))
    assert (tmp_path / "flag").exists()


def test_check_disagrees_after_apply_or_undo(tmp_path: Path) -> None:
    with pytest.raises(ReadBackError, match="not in place"):
        make(tmp_path, command=["true"], check=CHECK).apply({"applied": False})
    (tmp_path / "flag").touch()
    with pytest.raises(ReadBackError, match="still in place"):
        make(tmp_path, undo=["true"], check=CHECK).rollback({"applied": False}, None)


def test_check_exit_other_than_0_or_1_is_an_error(tmp_path: Path) -> None:
    action = make(tmp_path, check=[PY, "-c", "raise SystemExit(3)"])
    with pytest.raises(ActionError, match="exited 3"):
        action.snapshot()


def test_registered_for_its_kind() -> None:
    assert KINDS.get("shell").action_class() is ShellAction
