"""The fastly action against the lab's Fastly-compatible API on a real loopback socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cutover.actions.base import Reconciled
from cutover.actions.fastly import FastlyAction
from cutover.errors import RejectedActionError
from cutover.lab import LabHandle, start_lab
from cutover.lab.scenarios import FIX_2018, scenario_vcl
from cutover.runbook.backends import FastlySettings, FastlySnippet, FastlyStep, FastlyVersionChange

BUCKET = "pypi-files.s3.amazonaws.com"


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[LabHandle]:
    with start_lab("pypi-2018") as running:
        monkeypatch.setenv("LAB_TOKEN", running.token)
        yield running


def settings(lab: LabHandle, **extra: Any) -> FastlySettings:
    return FastlySettings(
        api_url=lab.api_url, token="env:LAB_TOKEN", services=dict(lab.service_ids), **extra
    )


def dictionary_step(**items: str) -> FastlyStep:
    return FastlyStep(
        name="redirect", backend="cdn", service="legacy", dictionary="redirects", set=items
    )


def api(lab: LabHandle) -> httpx.Client:
    return httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token}, timeout=10)


def active_version(lab: LabHandle, service: str) -> int:
    with api(lab) as client:
        versions = client.get(f"/service/{lab.service_ids[service]}/version").json()
    return next(v["number"] for v in versions if v["active"])


def test_dictionary_step_snapshot_apply_reconcile_rollback(lab: LabHandle) -> None:
    with FastlyAction(settings(lab), dictionary_step(mode="302", percent="1")) as action:
        prior = action.snapshot()
        assert prior["items"] == {"mode": "off", "percent": "100"}
        diff = action.plan(prior)
        assert [c.render() for c in diff.changes] == [
            "~ legacy dictionary redirects[mode]: 'off' → '302'",
            "~ legacy dictionary redirects[percent]: '100' → '1'",
        ]
        assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED
        record = action.apply(prior)
        assert record == {"dictionary_id": prior["dictionary_id"]}
        assert action.reconcile(prior, record) is Reconciled.APPLIED
        assert action.snapshot()["items"] == {"mode": "302", "percent": "1"}
        action.rollback(prior, record)
        action.rollback(prior, record)  # idempotent
        assert action.snapshot()["items"] == {"mode": "off", "percent": "100"}
        assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED


def test_rollback_deletes_an_item_that_did_not_exist(lab: LabHandle) -> None:
    with FastlyAction(settings(lab), dictionary_step(note="cutover")) as action:
        prior = action.snapshot()
        assert prior["items"] == {"note": None}
        action.apply(prior)
        assert action.snapshot()["items"] == {"note": "cutover"}
        action.rollback(prior, None)
        assert action.snapshot()["items"] == {"note": None}


def test_version_step_clones_changes_activates_and_rolls_back(lab: LabHandle) -> None:
    step = FastlyStep(
        name="fix",
        backend="cdn",
        service="files",
        version=FastlyVersionChange(
            snippets={"s3-signing": FastlySnippet(type="miss", content=FIX_2018["s3-signing"])},
            comment="fix",
        ),
    )
    before = active_version(lab, "files")
    with FastlyAction(settings(lab), step) as action:
        prior = action.snapshot()
        assert prior["active_version"] == before
        assert prior["snippets"] == {
            "s3-signing": {
                "type": "miss",
                "content": scenario_vcl("s3-signing-every-node"),
                "priority": 100,
            }
        }
        record = action.apply(prior)
        assert record == {"prior_version": before, "new_version": before + 1}
        assert active_version(lab, "files") == before + 1
        assert action.reconcile(prior, record) is Reconciled.APPLIED
        action.rollback(prior, record)
        assert active_version(lab, "files") == before
        assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED


def test_removing_a_domain_then_rollback_restores_the_claim(lab: LabHandle) -> None:
    step = FastlyStep(
        name="release bucket",
        backend="cdn",
        service="legacy",
        version=FastlyVersionChange(remove_domains=[BUCKET]),
    )
    with FastlyAction(settings(lab), step) as action:
        prior = action.snapshot()
        assert BUCKET in prior["domains"]
        action.apply(prior)
        assert BUCKET not in action.snapshot()["domains"]
        action.rollback(prior, None)
        assert BUCKET in action.snapshot()["domains"]


def test_a_refusal_is_not_retried(lab: LabHandle) -> None:
    step = FastlyStep(
        name="steal",
        backend="cdn",
        service="files",
        version=FastlyVersionChange(add_domains=["pypi.org"]),
    )
    before = active_version(lab, "files")
    with FastlyAction(settings(lab), step) as action, pytest.raises(RejectedActionError) as info:
        action.apply(action.snapshot())
    assert "already taken by service" in info.value.message
    assert active_version(lab, "files") == before


def test_a_wrong_token_is_refused_with_401(lab: LabHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TOKEN", "not-the-token")
    with (
        FastlyAction(settings(lab), dictionary_step(mode="302")) as action,
        pytest.raises(RejectedActionError) as info,
    ):
        action.snapshot()
    assert info.value.message.startswith("fastly: GET /service/")
    assert "401 Provided credentials are missing or invalid" in info.value.message
    assert "not-the-token" not in info.value.message


def test_transient_errors_are_retried_until_the_write_lands(lab: LabHandle) -> None:
    with api(lab) as client:
        client.put("/lab/faults/api", json={"error_rate": 0.5, "seed": 7}).raise_for_status()
    with FastlyAction(settings(lab, retries=8), dictionary_step(mode="302")) as action:
        prior = action.snapshot()
        action.apply(prior)
        assert action.reconcile(prior, None) is Reconciled.APPLIED


def test_a_domain_whose_add_was_answered_late_is_not_a_failure(lab: LabHandle) -> None:
    """A retried POST domain whose first attempt landed meets 409: the domain is there."""
    step = FastlyStep(
        name="add",
        backend="cdn",
        service="files",
        version=FastlyVersionChange(add_domains=["downloads.example.test"]),
    )
    with FastlyAction(settings(lab), step) as action:
        prior = action.snapshot()
        original = action.api.request
        posted: list[str] = []

        def lose_the_first_answer(method: str, path: str, **kw: Any) -> Any:
            result = original(method, path, **kw)
            if method == "POST" and path.endswith("/domain") and not posted:
                posted.append(path)
                return original(method, path, **kw)  # the retry: 409 Duplicate record
            return result

        action.api.request = lose_the_first_answer  # type: ignore[method-assign]
        record = action.apply(prior)
        assert posted and record["new_version"] == prior["active_version"] + 1
        assert "downloads.example.test" in action.snapshot()["domains"]


def test_other_refusals_when_adding_a_domain_still_fail(lab: LabHandle) -> None:
    step = FastlyStep(
        name="add",
        backend="cdn",
        service="files",
        version=FastlyVersionChange(add_domains=[""]),
    )
    with FastlyAction(settings(lab), step) as action, pytest.raises(RejectedActionError) as info:
        action.apply(action.snapshot())
    assert info.value.status == 400
