"""The nginx action: against a real nginx on loopback, plus unit tests of the pieces."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from cutover.actions.base import Reconciled
from cutover.actions.nginx import NginxAction, line_changes
from cutover.errors import ActionError, RejectedActionError
from cutover.runbook.backends import NginxSettings, NginxStep
from cutover.runbook.kinds import KINDS
from cutover.testing import wait_for

from .conftest import LEGACY, Nginx

REDIRECT = "return 302 https://files.example.org$request_uri;\n"
NEW_LOCATION = "https://files.example.org/x"


def step(content: str) -> NginxStep:
    return NginxStep(name="flip", backend="proxy", content=content)


# --- against a real nginx -------------------------------------------------------------------


@pytest.mark.nginx
def test_apply_switches_what_nginx_answers(nginx: Nginx) -> None:
    action = NginxAction(nginx.settings(), step(REDIRECT))
    prior = action.snapshot()
    assert prior == {"file": str(nginx.managed), "content": LEGACY}
    assert not action.plan(prior).empty
    assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED

    record = action.apply(prior)

    assert nginx.managed.read_text() == REDIRECT
    wait_for("nginx to answer so", lambda: nginx.redirects_to(NEW_LOCATION), 10)
    assert record["sha256"] != record["previous_sha256"]
    assert action.reconcile(prior, record) is Reconciled.APPLIED
    assert action.plan(action.snapshot()).empty
    assert sorted(p.name for p in nginx.managed.parent.iterdir()) == ["route.conf"]


@pytest.mark.nginx
def test_broken_config_is_refused_and_the_file_restored(nginx: Nginx) -> None:
    action = NginxAction(nginx.settings(), step("bogus_directive on;\n"))
    prior = action.snapshot()

    with pytest.raises(RejectedActionError) as caught:
        action.apply(prior)

    assert 'unknown directive "bogus_directive"' in caught.value.message
    assert "nothing reloaded" in caught.value.message
    assert nginx.managed.read_text() == LEGACY
    assert nginx.answers_legacy()
    assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED


@pytest.mark.nginx
def test_rollback_restores_and_reloads_and_is_idempotent(nginx: Nginx) -> None:
    action = NginxAction(nginx.settings(), step(REDIRECT))
    prior = action.snapshot()
    record = action.apply(prior)
    wait_for("nginx to answer so", lambda: nginx.redirects_to(NEW_LOCATION), 10)

    action.rollback(prior, record)
    assert nginx.managed.read_text() == LEGACY
    wait_for("nginx to answer so", nginx.answers_legacy, 10)
    assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED

    action.rollback(prior, record)  # twice is fine
    assert nginx.managed.read_text() == LEGACY
    wait_for("nginx to answer so", nginx.answers_legacy, 10)


@pytest.mark.nginx
def test_absent_file_is_created_then_removed(nginx: Nginx) -> None:
    nginx.managed.unlink()
    action = NginxAction(nginx.settings(), step(REDIRECT))
    prior = action.snapshot()
    assert prior["content"] is None

    record = action.apply(prior)
    assert stat.S_IMODE(nginx.managed.stat().st_mode) == 0o644
    wait_for("nginx to answer so", lambda: nginx.redirects_to(NEW_LOCATION), 10)

    action.rollback(prior, None)
    assert not nginx.managed.exists()
    wait_for("nginx to answer so", nginx.answers_legacy, 10)
    action.rollback(prior, record)
    assert not nginx.managed.exists()


@pytest.mark.nginx
def test_rollback_after_a_crash_mid_apply(nginx: Nginx) -> None:
    """Crash after the write, before the reload: no record; rollback still restores."""
    action = NginxAction(nginx.settings(), step(REDIRECT))
    prior = action.snapshot()
    nginx.managed.write_text(REDIRECT)  # written, never tested nor reloaded
    assert action.reconcile(prior, None) is Reconciled.APPLIED

    action.rollback(prior, None)
    assert nginx.managed.read_text() == LEGACY
    assert nginx.answers_legacy()


@pytest.mark.nginx
def test_rollback_always_reloads(nginx: Nginx) -> None:
    """A rollback interrupted between its write and its reload is finished by the next."""
    action = NginxAction(nginx.settings(), step(REDIRECT))
    prior = action.snapshot()
    record = action.apply(prior)
    wait_for("nginx to answer so", lambda: nginx.redirects_to(NEW_LOCATION), 10)
    nginx.managed.write_text(LEGACY)  # the first rollback wrote, then died
    assert nginx.redirects_to(NEW_LOCATION)

    action.rollback(prior, record)
    wait_for("nginx to answer so", nginx.answers_legacy, 10)


@pytest.mark.nginx
def test_reconcile_sees_someone_elses_change(nginx: Nginx) -> None:
    action = NginxAction(nginx.settings(), step(REDIRECT))
    prior = action.snapshot()
    nginx.managed.write_text("return 302 https://elsewhere.example/;\n")
    assert action.reconcile(prior, None) is Reconciled.DRIFTED


@pytest.mark.nginx
def test_mode_is_kept(nginx: Nginx) -> None:
    nginx.managed.chmod(0o640)
    action = NginxAction(nginx.settings(), step(REDIRECT))
    action.apply(action.snapshot())
    assert stat.S_IMODE(nginx.managed.stat().st_mode) == 0o640


@pytest.mark.nginx
def test_reload_failure_restores_the_file(nginx: Nginx) -> None:
    settings = nginx.settings(reload_command=[*nginx.base, "-s", "no-such-signal"])
    action = NginxAction(settings, step(REDIRECT))
    with pytest.raises(ActionError, match="reload failed"):
        action.apply(action.snapshot())
    assert nginx.managed.read_text() == LEGACY
    assert nginx.answers_legacy()


# --- without nginx: fake commands -----------------------------------------------------------

OK = [sys.executable, "-c", "pass"]


def fake(tmp_path: Path, *, test: list[str] = OK, reload: list[str] = OK) -> NginxSettings:
    return NginxSettings(
        file=str(tmp_path / "route.conf"), test_command=test, reload_command=reload, timeout=5
    )


def test_registered_for_its_kind() -> None:
    assert KINDS.get("nginx").action_class() is NginxAction


def test_refusal_message_is_the_test_commands_stderr(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('nginx: [emerg] nope in route.conf:1')"]
    (tmp_path / "route.conf").write_text(LEGACY)
    action = NginxAction(fake(tmp_path, test=failing), step(REDIRECT))
    with pytest.raises(RejectedActionError, match=r"\[emerg\] nope"):
        action.apply(action.snapshot())
    assert (tmp_path / "route.conf").read_text() == LEGACY


def test_a_hanging_test_command_is_killed_and_the_file_restored(tmp_path: Path) -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(30)"]
    settings = fake(tmp_path, test=hang).model_copy(update={"timeout": 0.5})
    action = NginxAction(settings, step(REDIRECT))
    with pytest.raises(ActionError, match=r"did not finish within 0\.5s"):
        action.apply(action.snapshot())
    assert not (tmp_path / "route.conf").exists()


def test_rollback_refused_by_the_test_command(tmp_path: Path) -> None:
    action = NginxAction(
        fake(tmp_path, test=[sys.executable, "-c", "raise SystemExit(1)"]), step("")
    )
    with pytest.raises(RejectedActionError, match="refuses the restored"):
        action.rollback({"content": LEGACY}, None)


def test_plan_is_a_line_diff() -> None:
    changes = line_changes("f.conf", "a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(c.target, c.before, c.after) for c in changes] == [
        ("f.conf:2", "b", "B"),
        ("f.conf:4", None, "d"),
    ]
    assert "'b' → 'B'" in changes[0].render()


def test_plan_of_an_absent_file_and_of_an_unchanged_one() -> None:
    created = line_changes("f.conf", None, "x\n")
    assert created[0].before is None
    assert created[0].after.startswith("1 line, sha256 ")
    assert [(c.before, c.after) for c in created[1:]] == [(None, "x")]
    same = line_changes("f.conf", "x\n", "x\n")
    assert len(same) == 1
    assert not same[0].changes
    assert len(line_changes("f.conf", "x", "x\n")) == 1  # only the final newline differs


def test_rollback_refuses_a_prior_state_that_is_not_this_files(tmp_path: Path) -> None:
    (tmp_path / "route.conf").write_text(LEGACY)
    action = NginxAction(fake(tmp_path), step(REDIRECT))
    for prior in ({}, {"file": "/elsewhere.conf", "content": None}):
        with pytest.raises(ActionError, match="refusing to guess"):
            action.rollback(prior, None)
    assert (tmp_path / "route.conf").read_text() == LEGACY
