"""The fastly action's conditions, headers, backends, custom VCL files and dynamic
snippets, against the lab's Fastly-compatible API on a real loopback socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cutover.actions.base import Reconciled
from cutover.actions.fastly import FastlyAction
from cutover.errors import RejectedActionError
from cutover.lab import LabHandle, start_lab
from cutover.lab.hostnames import SHIELD_NODE, WAREHOUSE_HOST
from cutover.runbook.backends import FastlySettings, FastlySnippet, FastlyStep, FastlyVersionChange
from cutover.runbook.fastly_resources import (
    FastlyBackend,
    FastlyCondition,
    FastlyHeader,
    FastlyVcl,
)
from cutover.testing import LabClient

JSON = f"http://{WAREHOUSE_HOST}/pypi/peppercorn/json"
TEAPOT = f"http://{WAREHOUSE_HOST}/teapot"
MAIN = (
    'include "teapots";\nsub vcl_recv {\n#FASTLY recv\n  call teapot;\n  return(lookup);\n}\n'
    "sub vcl_deliver {\n#FASTLY deliver\n  return(deliver);\n}\n"
)
TEAPOTS = 'sub teapot {\n  if (req.url.path == "/teapot") {\n    error 418 "teapot";\n  }\n}\n'


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[LabHandle]:
    with start_lab("pypi-2018") as running:
        monkeypatch.setenv("LAB_TOKEN", running.token)
        yield running


@pytest.fixture
def world(lab: LabHandle) -> Iterator[LabClient]:
    with LabClient(lab) as client:
        yield client


def _action(lab: LabHandle, **change: Any) -> FastlyAction:
    settings = FastlySettings(
        api_url=lab.api_url, token="env:LAB_TOKEN", services=dict(lab.service_ids)
    )
    return FastlyAction(
        settings, FastlyStep(name="s", backend="cdn", service="warehouse", **change)
    )


def _edge_config() -> FastlyVersionChange:
    return FastlyVersionChange(
        conditions={
            "is-json": FastlyCondition(type="REQUEST", statement='req.url ~ "/json$"'),
            "is-ok": FastlyCondition(type="RESPONSE", statement="resp.status == 200", priority=5),
        },
        headers={
            "mark": FastlyHeader(
                action="set",
                type="request",
                dst="http.X-Mark",
                src='"json"',
                request_condition="is-json",
            ),
            "echo": FastlyHeader(
                action="set",
                type="response",
                dst="http.X-Echo",
                src="req.http.X-Mark",
                response_condition="is-ok",
            ),
        },
        backends={
            "F_Warehouse": FastlyBackend(
                address="warehouse.lab.internal", shield=SHIELD_NODE, override_host=WAREHOUSE_HOST
            )
        },
        vcls={"main": FastlyVcl(content=MAIN, main=True), "teapots": FastlyVcl(content=TEAPOTS)},
        comment="edge config",
    )


def test_version_step_adds_every_resource_runs_it_and_rolls_back(
    lab: LabHandle, world: LabClient
) -> None:
    with _action(lab, version=_edge_config()) as action:
        prior = action.snapshot()
        assert prior["conditions"] == {"is-json": None, "is-ok": None}
        assert prior["headers"] == {"mark": None, "echo": None}
        assert prior["vcls"] == {"main": None, "teapots": None}
        assert prior["backends"] == {
            "F_Warehouse": {
                "address": "warehouse.lab.internal",
                "port": 443,
                "use_ssl": True,
                "shield": SHIELD_NODE,
                "override_host": None,
                "request_condition": "",
                "comment": "",
            }
        }
        rendered = [c.render() for c in action.plan(prior).changes]
        assert rendered[2:] == [
            "~ warehouse condition is-json: (absent) →"
            ' {"priority": 100, "statement": "req.url ~ \\"/json$\\"", "type": "REQUEST"}',
            "~ warehouse condition is-ok: (absent) →"
            ' {"priority": 5, "statement": "resp.status == 200", "type": "RESPONSE"}',
            "~ warehouse header mark: (absent) →"
            ' {"action": "set", "cache_condition": "", "dst": "http.X-Mark",'
            ' "ignore_if_set": false, "priority": 100, "regex": "", "request_condition":'
            ' "is-json", "response_condition": "", "src": "\\"json\\"", "substitution": "",'
            ' "type": "request"}',
            "~ warehouse header echo: (absent) →"
            ' {"action": "set", "cache_condition": "", "dst": "http.X-Echo",'
            ' "ignore_if_set": false, "priority": 100, "regex": "", "request_condition": "",'
            ' "response_condition": "is-ok", "src": "req.http.X-Mark", "substitution": "",'
            ' "type": "response"}',
            "~ warehouse backend F_Warehouse:"
            ' {"address": "warehouse.lab.internal", "comment": "", "override_host": null,'
            ' "port": 443, "request_condition": "", "shield": "cache-lab-shield1",'
            ' "use_ssl": true} →'
            ' {"address": "warehouse.lab.internal", "comment": "", "override_host": "pypi.org",'
            ' "port": 443, "request_condition": "", "shield": "cache-lab-shield1",'
            ' "use_ssl": true}',
            '~ warehouse custom VCL main: (absent) → {"main": true}',
            f"~ warehouse custom VCL main content: (absent) → {json.dumps(MAIN)}",
            '~ warehouse custom VCL teapots: (absent) → {"main": false}',
            f"~ warehouse custom VCL teapots content: (absent) → {json.dumps(TEAPOTS)}",
        ]
        assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED
        record = action.apply(prior)
        assert record == {"prior_version": 1, "new_version": 2}
        assert action.reconcile(prior, record) is Reconciled.APPLIED
        assert all(not c.changes for c in action.targets(action.snapshot()) or [])

        answer = world.get(JSON)
        assert (answer.status_code, answer.headers.get("X-Echo")) == (200, "json")
        assert world.get(TEAPOT).status_code == 418

        action.rollback(prior, record)
        assert world.active_version("warehouse") == 1
        assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED
        assert world.get(JSON).headers.get("X-Echo") is None
        assert world.get(TEAPOT).status_code == 404


def test_version_step_replaces_and_deletes_by_name(lab: LabHandle, world: LabClient) -> None:
    first = FastlyVersionChange(
        conditions={"is-json": FastlyCondition(type="REQUEST", statement="true")},
        vcls={"teapots": FastlyVcl(content=TEAPOTS)},
    )
    with _action(lab, version=first) as action:
        action.apply(action.snapshot())
    second = FastlyVersionChange(
        conditions={"is-json": FastlyCondition(type="REQUEST", statement="false", priority=7)},
        vcls={"teapots": None},
        snippets={"warehouse-backend": None},
        backends={"F_Warehouse": FastlyBackend(address="warehouse.lab.internal", port=80)},
    )
    with _action(lab, version=second) as action:
        prior = action.snapshot()
        assert prior["vcls"]["teapots"] == {"content": TEAPOTS, "main": False}
        action.apply(prior)
        after = action.snapshot()
    assert after["conditions"] == {
        "is-json": {"type": "REQUEST", "statement": "false", "priority": 7}
    }
    assert after["vcls"] == {"teapots": None}
    assert after["snippets"] == {"warehouse-backend": None}
    assert (
        after["backends"]["F_Warehouse"]["port"],
        after["backends"]["F_Warehouse"]["use_ssl"],
    ) == (
        80,
        False,
    )
    assert world.active_version("warehouse") == 3


def _with_dynamic_tag(lab: LabHandle, content: str) -> None:
    change = FastlyVersionChange(
        snippets={"tag": FastlySnippet(type="deliver", content=content, dynamic=True)}
    )
    with _action(lab, version=change) as action:
        prior = action.snapshot()
        assert prior["snippets"] == {"tag": None}
        action.apply(prior)
        assert action.snapshot()["snippets"] == {
            "tag": {"type": "deliver", "priority": 100, "dynamic": True}
        }


def test_dynamic_snippet_step_is_versionless_and_rolls_back(
    lab: LabHandle, world: LabClient
) -> None:
    one, two = 'set resp.http.X-Tag = "one";', 'set resp.http.X-Tag = "two";'
    _with_dynamic_tag(lab, one)
    assert world.get(JSON).headers["X-Tag"] == "one"
    with _action(lab, dynamic_snippet="tag", content=two) as action:
        prior = action.snapshot()
        assert prior["content"] == one
        assert [c.render() for c in action.plan(prior).changes] == [
            f"~ warehouse dynamic snippet tag content: {one!r} → {two!r}"
        ]
        assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED
        record = action.apply(prior)
        assert world.active_version("warehouse") == 2  # no new version
        assert world.get(JSON).headers["X-Tag"] == "two"
        assert action.reconcile(prior, record) is Reconciled.APPLIED
        (target,) = action.targets(action.snapshot()) or []
        assert (target.target, target.changes) == (
            f"fastly {lab.service_ids['warehouse']} dynamic snippet tag",
            False,
        )
        action.rollback(prior, record)
        action.rollback(prior, record)  # idempotent
        assert world.get(JSON).headers["X-Tag"] == "one"
        assert action.reconcile(prior, record) is Reconciled.NOT_APPLIED


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("warehouse-backend", "fastly: 'warehouse-backend' is a versioned snippet, not a dynamic"
         " one on the active version 1"),
        ("nothing", "fastly: 'nothing' is no snippet on the active version 1"),
    ],
)  # fmt: skip
def test_dynamic_snippet_step_needs_a_dynamic_snippet(
    lab: LabHandle, name: str, message: str
) -> None:
    with (
        _action(lab, dynamic_snippet=name, content="") as action,
        pytest.raises(RejectedActionError) as info,
    ):
        action.snapshot()
    assert info.value.message == message
