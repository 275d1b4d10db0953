"""The http action: against a real REST server on loopback, and MockTransport unit tests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cutover.actions.base import Reconciled
from cutover.actions.http import HttpAction, merge_patch, reverse_merge_patch
from cutover.errors import (
    ActionError,
    ReadBackError,
    RejectedActionError,
    SecretError,
    TransientActionError,
)
from cutover.runbook.backends import HttpSettings, HttpStep
from cutover.runbook.kinds import KINDS
from cutover.testing import RestServer

SETTING = "/settings/redirect"


def settings(url: str, **extra: Any) -> HttpSettings:
    return HttpSettings(base_url=url, **extra)


def step(method: str = "PUT", body: Any = None, path: str = SETTING, **extra: Any) -> HttpStep:
    return HttpStep(
        name="flip",
        backend="api",
        method=method,
        path=path,
        body=body if body is not None else {"mode": "302", "percent": 10},
        **extra,
    )


# --- against a real server ------------------------------------------------------------------


def test_put_apply_rollback_reconcile(rest_server: RestServer) -> None:
    rest_server.store[SETTING] = {"mode": "off", "percent": 0}
    with HttpAction(settings(rest_server.url), step()) as action:
        prior = action.snapshot()
        assert prior == {"path": SETTING, "value": {"mode": "off", "percent": 0}}
        change = action.plan(prior).changes[0]
        assert (change.target, change.after) == (f"PUT {SETTING}", {"mode": "302", "percent": 10})
        assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED

        record = action.apply(prior)
        assert rest_server.store[SETTING] == {"mode": "302", "percent": 10}
        assert action.reconcile(prior, record) is Reconciled.APPLIED
        assert action.plan(action.snapshot()).empty

        action.rollback(prior, record)
        assert rest_server.store[SETTING] == {"mode": "off", "percent": 0}
        assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED
        writes = len([r for r in rest_server.requests if r[0] != "GET"])
        action.rollback(prior, record)  # twice is fine, and writes nothing
        assert len([r for r in rest_server.requests if r[0] != "GET"]) == writes


def test_rollback_of_an_absent_setting_deletes_it(rest_server: RestServer) -> None:
    with HttpAction(settings(rest_server.url), step()) as action:
        prior = action.snapshot()
        assert prior["value"] is None
        action.apply(prior)
        action.rollback(prior, None)
        assert SETTING not in rest_server.store
        action.rollback(prior, None)


def test_patch_touches_only_its_keys_and_rollback_reverses_them(rest_server: RestServer) -> None:
    rest_server.store[SETTING] = {"mode": "off", "percent": 0, "owner": "ops"}
    patch = {"mode": "302", "percent": 10, "extra": {"note": "cutover"}}
    with HttpAction(settings(rest_server.url), step("PATCH", patch)) as action:
        prior = action.snapshot()
        assert action.plan(prior).changes[0].after == {**prior["value"], **patch}
        record = action.apply(prior)
        assert rest_server.store[SETTING]["extra"] == {"note": "cutover"}
        rest_server.store[SETTING]["owner"] = "someone else"  # a concurrent change elsewhere
        assert action.reconcile(prior, record) is Reconciled.APPLIED

        action.rollback(prior, record)
        assert rest_server.store[SETTING] == {"mode": "off", "percent": 0, "owner": "someone else"}
        assert rest_server.requests[-2][0] == "PATCH"


def test_reconcile_sees_someone_elses_change(rest_server: RestServer) -> None:
    rest_server.store[SETTING] = {"mode": "off"}
    with HttpAction(settings(rest_server.url), step()) as action:
        prior = action.snapshot()
        rest_server.store[SETTING] = {"mode": "301"}
        assert action.reconcile(prior, None) is Reconciled.DRIFTED


def test_post_applies_with_read_path_and_refuses_rollback(rest_server: RestServer) -> None:
    rest_server.store[SETTING] = {"mode": "off"}
    post = step("POST", {"mode": "302"}, path="/actions/redirect", read_path=SETTING)
    with HttpAction(settings(rest_server.url), post) as action:
        prior = action.snapshot()
        assert prior["path"] == SETTING
        record = action.apply(prior)
        assert action.reconcile(prior, record) is Reconciled.APPLIED

        with pytest.raises(RejectedActionError, match="not reversible") as caught:
            action.rollback(prior, record)
        assert '{"mode": "off"}' in caught.value.message  # the operator learns the prior value

        rest_server.store[SETTING] = {"mode": "off"}  # restored by hand
        action.rollback(prior, record)  # then rollback has nothing to do


def test_a_refusal_is_not_retried(rest_server: RestServer) -> None:
    rest_server.store["/readonly/x"] = {"a": 1}
    action = HttpAction(settings(rest_server.url), step(path="/readonly/x"))
    with action, pytest.raises(RejectedActionError, match="403 read-only setting"):
        action.apply(action.snapshot())
    assert [r[0] for r in rest_server.requests] == ["GET", "PUT"]


def test_token_is_sent_as_bearer(rest_server: RestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTOVER_TEST_HTTP_TOKEN", "s3cret-token-value")
    config = settings(rest_server.url, token="env:CUTOVER_TEST_HTTP_TOKEN")
    with HttpAction(config, step()) as action:
        action.apply(action.snapshot())
    assert {r[2] for r in rest_server.requests} == {"Bearer s3cret-token-value"}


# --- MockTransport: retries, refusals, read-back, the token ---------------------------------


class Api:
    """A MockTransport handler: answers from a script, counting calls per method."""

    def __init__(self, *script: tuple[int, Any]) -> None:
        self.script = list(script)
        self.calls: list[httpx.Request] = []
        self.value: Any = {"mode": "off"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.script:
            status, body = self.script.pop(0)
            return httpx.Response(status, json=body)
        if request.method == "GET":
            return httpx.Response(200, json=self.value)
        self.value = json.loads(request.content)
        return httpx.Response(200, json=self.value)

    def methods(self) -> list[str]:
        return [r.method for r in self.calls]


def mocked(api: Api, the_step: HttpStep | None = None, **extra: Any) -> HttpAction:
    config = settings("https://api.example", retries=extra.pop("retries", 3), **extra)
    return HttpAction(config, the_step or step(), transport=httpx.MockTransport(api))


def test_5xx_is_retried_then_succeeds() -> None:
    api = Api((503, {"msg": "busy"}), (502, None))
    with mocked(api) as action:
        assert action.snapshot()["value"] == {"mode": "off"}
    assert api.methods() == ["GET", "GET", "GET"]


def test_retries_are_bounded() -> None:
    api = Api(*[(500, None)] * 10)
    with mocked(api, retries=1) as action, pytest.raises(TransientActionError, match="500"):
        action.snapshot()
    assert len(api.calls) == 2


def test_4xx_is_not_retried() -> None:
    api = Api((200, {"mode": "off"}), (422, {"message": "percent must be ≤ 100"}))
    with mocked(api) as action, pytest.raises(RejectedActionError, match="percent must be"):
        action.apply(action.snapshot())
    assert api.methods() == ["GET", "PUT"]


def test_read_back_mismatch() -> None:
    api = Api((200, {"mode": "off"}), (200, {}), (200, {"mode": "off"}))
    with (
        mocked(api) as action,
        pytest.raises(ReadBackError, match=r"answers \{\"mode\": \"off\"\}"),
    ):
        action.apply(action.snapshot())


def test_token_header_and_its_lazy_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUTOVER_TEST_MISSING", raising=False)
    api = Api()
    action = mocked(api, token="env:CUTOVER_TEST_MISSING", headers={"X-Team": "ops"})
    with action, pytest.raises(SecretError):  # built fine; resolved at the first call
        action.snapshot()
    monkeypatch.setenv("CUTOVER_TEST_MISSING", "tok-1234567")
    with mocked(api, token="env:CUTOVER_TEST_MISSING", headers={"X-Team": "ops"}) as action:
        action.snapshot()
    assert api.calls[-1].headers["Authorization"] == "Bearer tok-1234567"
    assert api.calls[-1].headers["X-Team"] == "ops"


def test_rollback_refuses_a_prior_state_without_a_value() -> None:
    api = Api()
    with mocked(api) as action, pytest.raises(ActionError, match="refusing to guess"):
        action.rollback({}, None)
    assert api.calls == []


def test_registered_for_its_kind() -> None:
    assert KINDS.get("http").action_class() is HttpAction


# --- merge patches --------------------------------------------------------------------------


def test_merge_patch_and_its_reverse() -> None:
    prior = {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}
    patch = {"a": 9, "b": {"c": None, "x": 1}, "new": True}
    patched = merge_patch(prior, patch)
    assert patched == {"a": 9, "b": {"d": 3, "x": 1}, "e": 4, "new": True}
    reverse = reverse_merge_patch(prior, patch)
    assert reverse == {"a": 1, "b": {"c": 2, "x": None}, "new": None}
    assert merge_patch(patched, reverse) == prior
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]
    assert reverse_merge_patch([1], {"a": 1}) == [1]
