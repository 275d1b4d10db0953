"""The fastly action's purge steps against the lab's purge API on a real loopback socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cutover.actions.base import Reconciled
from cutover.actions.fastly import FastlyAction
from cutover.errors import ReadBackError
from cutover.lab import LabHandle, start_lab
from cutover.lab.hostnames import EDGE_NODE
from cutover.runbook.backends import FastlySettings, FastlyStep
from cutover.runbook.fastly_purge import FastlyPurge
from cutover.testing import LabClient


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[LabClient]:
    with start_lab("pypi-2018") as lab, LabClient(lab) as client:
        monkeypatch.setenv("LAB_TOKEN", lab.token)
        yield client


def action(lab: LabHandle, **purge: object) -> FastlyAction:
    settings = FastlySettings(
        api_url=lab.api_url, token="env:LAB_TOKEN", services=dict(lab.service_ids)
    )
    step = FastlyStep(name="purge", backend="cdn", service="files", purge=FastlyPurge(**purge))  # type: ignore[arg-type]
    return FastlyAction(settings, step)


def edge_has(world: LabClient, url: str) -> bool:
    return url.removeprefix("http://") in world.ok("GET", "/lab/cache")[EDGE_NODE]


def test_a_url_purge_step_plans_purges_and_is_never_at_target(world: LabClient) -> None:
    wheel = world.file(".whl")
    url = world.hash_url(wheel)  # in the warm set
    assert edge_has(world, url)
    with action(world.lab, urls=[url.replace("http://", "https://")]) as purge:
        prior = purge.snapshot()
        assert prior == {
            "service_id": world.sid("files"),
            "purge": {
                "urls": [url.replace("http://", "https://")],
                "keys": [],
                "all": False,
                "soft": False,
            },
        }
        assert [c.render() for c in purge.plan(prior).changes] == [
            f"~ files cache url {url.removeprefix('http://')}: 'cached' → 'purged'"
        ]
        assert purge.targets(prior) is None
        assert purge.at_target(prior) is None
        assert purge.reconcile(prior, None) is Reconciled.NOT_APPLIED
        record = purge.apply(prior)
        assert len(record["purge_ids"]) == 1 and record["purge_ids"][0]
        assert not edge_has(world, url)
        purge.rollback(prior, record)  # nothing to undo
        assert not edge_has(world, url)


@pytest.mark.parametrize(
    ("purge", "plan"),
    [
        ({"keys": ["a"]}, ["~ files cache surrogate key a: 'cached' → 'purged'"]),
        (
            {"keys": ["a", "b"], "soft": True},
            [
                "~ files cache surrogate key a: 'cached' → 'soft-purged (stale)'",
                "~ files cache surrogate key b: 'cached' → 'soft-purged (stale)'",
            ],
        ),
        ({"all": True}, ["~ files cache (everything): 'cached' → 'purged'"]),
    ],
    ids=["one key", "two keys soft", "all"],
)
def test_key_and_all_purges(world: LabClient, purge: dict[str, object], plan: list[str]) -> None:
    with action(world.lab, **purge) as step:
        prior = step.snapshot()
        assert [c.render() for c in step.plan(prior).changes] == plan
        record = step.apply(prior)
    keys = purge.get("keys", [])
    assert isinstance(keys, list)
    assert len(record["purge_ids"]) == len(keys)  # purge_all has no id
    assert all(record["purge_ids"])
    wheel = world.file(".whl")
    assert edge_has(world, world.hash_url(wheel)) is not purge.get("all", False)


def test_an_answer_that_is_not_ok_is_a_failed_read_back(world: LabClient) -> None:
    with action(world.lab, keys=["a", "b"]) as step:
        prior = step.snapshot()
        calls = []
        original = step.api.request

        def answer_one_key(method: str, path: str, **kw: object) -> object:
            calls.append((method, path, kw.get("headers")))
            result = original(method, path, **kw)  # type: ignore[arg-type]
            return {"a": result["a"]}  # an answer naming only one of the keys

        step.api.request = answer_one_key  # type: ignore[method-assign]
        with pytest.raises(ReadBackError, match=r"names no purge of \['b'\]"):
            step.apply(prior)
    assert calls == [("POST", f"/service/{world.sid('files')}/purge", {"Surrogate-Key": "a b"})]
