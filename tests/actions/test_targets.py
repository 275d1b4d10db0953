"""What each action kind says about "already at target": ``targets`` and ``at_target``.

One table for every kind: a step, a live state (as its ``snapshot`` would read it), and
whether live already holds what ``apply`` would write (None: live state cannot tell).
``targets`` is pure (it reads only the snapshot), so no backend is needed here; the lab
and nginx tests (tests/reliability/test_rerun.py) run the same methods against live state.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from cutover.actions.base import Action
from cutover.actions.fastly import FastlyAction
from cutover.actions.http import HttpAction
from cutover.actions.nginx import NginxAction
from cutover.actions.shell import ShellAction
from cutover.runbook.backends import (
    FastlySettings,
    FastlyStep,
    FastlyVersionChange,
    HttpSettings,
    HttpStep,
    NginxSettings,
    NginxStep,
    ShellSettings,
    ShellStep,
)

OK = [sys.executable, "-c", "pass"]
FASTLY = FastlySettings(api_url="http://127.0.0.1:9", token="env:NOPE", services={"legacy": "S1"})
NGINX = NginxSettings(file="/srv/route.conf", test_command=OK, reload_command=OK)
HTTP = HttpSettings(base_url="http://127.0.0.1:9/api/")


def nginx(content: str) -> Action:
    return NginxAction(NGINX, NginxStep(name="n", backend="p", content=content))


def items(**values: Any) -> Action:
    step = FastlyStep(name="d", backend="cdn", service="legacy", dictionary="redirects", **values)
    return FastlyAction(FASTLY, step)


def version(**change: Any) -> Action:
    step = FastlyStep(
        name="v", backend="cdn", service="legacy", version=FastlyVersionChange(**change)
    )
    return FastlyAction(FASTLY, step)


def http(method: str, body: Any) -> Action:
    return HttpAction(HTTP, HttpStep(name="h", backend="api", method=method, path="/s", body=body))


def shell(check: list[str] | None) -> Action:
    step = ShellStep(name="s", backend="sh", command=OK, undo=OK, check=check)
    return ShellAction(ShellSettings(), step)


def patch(body: Any) -> Callable[[], Action]:
    return lambda: http("PATCH", body)


def dictionary(**live: str | None) -> dict[str, Any]:
    return {"service_id": "S1", "dictionary": "redirects", "dictionary_id": "D", "items": live}


def active(domains: list[str], **settings: str | None) -> dict[str, Any]:
    return {"service_id": "S1", "active_version": 2, "domains": domains, "settings": settings}


#: kind, the action, the live state, already at target?
TABLE: list[tuple[str, Callable[[], Action], dict[str, Any], bool | None]] = [
    ("nginx same file", lambda: nginx("a\n"), {"file": NGINX.file, "content": "a\n"}, True),
    ("nginx other file", lambda: nginx("a\n"), {"file": NGINX.file, "content": "b\n"}, False),
    ("nginx absent file", lambda: nginx("a\n"), {"file": NGINX.file, "content": None}, False),
    ("dictionary same", lambda: items(set={"percent": "10"}), dictionary(percent="10"), True),
    ("dictionary other", lambda: items(set={"percent": "10"}), dictionary(percent="1"), False),
    ("dictionary delete done", lambda: items(delete=["x"]), dictionary(x=None), True),
    ("dictionary delete pending", lambda: items(delete=["x"]), dictionary(x="1"), False),
    ("version domain gone", lambda: version(remove_domains=["b.org"]), active(["a.org"]), True),
    ("version domain there", lambda: version(remove_domains=["b.org"]), active(["b.org"]), False),
    ("version domain added", lambda: version(add_domains=["B.org"]), active(["b.org"]), True),
    ("version setting same", lambda: version(settings={"k": "v"}), active([], k="v"), True),
    ("version setting other", lambda: version(settings={"k": "v"}), active([], k="w"), False),
    ("http PUT same", lambda: http("PUT", {"a": 1}), {"path": "/s", "value": {"a": 1}}, True),
    ("http PUT superset", lambda: http("PUT", {"a": 1}), {"value": {"a": 1, "b": 2}}, False),
    (
        "http PATCH keys hold",
        patch({"a": {"b": 1}}),
        {"value": {"a": {"b": 1}, "c": 3}},
        True,
    ),
    (
        "http PATCH key differs",
        patch({"a": {"b": 1}}),
        {"value": {"a": {"b": 2}}},
        False,
    ),
    ("http PATCH removal done", patch({"gone": None}), {"value": {"a": 1}}, True),
    (
        "http PATCH removal pending",
        patch({"gone": None}),
        {"value": {"gone": 1}},
        False,
    ),
    ("shell check says applied", lambda: shell(OK), {"applied": True}, True),
    ("shell check says not", lambda: shell(OK), {"applied": False}, False),
    ("shell without check", lambda: shell(None), {}, None),
]


@pytest.mark.parametrize(("label", "make", "live", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_at_target_per_kind(
    label: str, make: Callable[[], Action], live: dict[str, Any], expected: bool | None
) -> None:
    action = make()
    assert action.at_target(live) is expected
    found = action.targets(live)
    if expected is None:
        assert found is None
    else:
        assert found and all(c.target.startswith(action.kind) for c in found)


def test_target_keys_name_the_value_not_the_step() -> None:
    """Two steps writing the same value share its key (so the later one's is final)."""
    ramp_1 = items(set={"mode": "302", "percent": "1"}).targets(dictionary(mode="off"))
    ramp_10 = items(set={"percent": "10"}).targets(dictionary(percent="1"))
    assert ramp_1 is not None and ramp_10 is not None
    assert [c.target for c in ramp_1] == [
        "fastly S1 dictionary redirects[mode]",
        "fastly S1 dictionary redirects[percent]",
    ]
    assert [c.target for c in ramp_10] == ["fastly S1 dictionary redirects[percent]"]
    patch = http("PATCH", {"a/b": {"c": 1}}).targets({"value": None})
    assert patch is not None and [c.target for c in patch] == [
        "http http://127.0.0.1:9/api/s#/a~1b/c"
    ]


def test_the_nginx_key_is_the_file() -> None:
    found = nginx("a\n").targets({"content": "b\n"})
    assert found is not None
    assert [(c.target, c.before, c.after) for c in found] == [
        ("nginx file /srv/route.conf", "b\n", "a\n")
    ]
