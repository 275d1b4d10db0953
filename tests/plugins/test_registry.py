"""The registry: lazy loading, duplicate names refused, malformed kinds refused, built-ins
registered like plugins."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any, Literal

import pytest

from cutover.actions.nginx import NginxAction
from cutover.errors import InputError, PluginError
from cutover.plugins import Registry
from cutover.runbook.backends import NginxSettings, NginxStep, ShellSettings, ShellStep, StepBase
from cutover.runbook.kinds import (
    FASTLY,
    KINDS,
    NGINX,
    BackendKind,
    action_for,
    check_kind,
    register_kind,
)
from cutover.runbook.types import Model

PLUGINS = str(Path(__file__).resolve().parent)


def test_builtins_load_on_first_lookup_like_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(PLUGINS)
    monkeypatch.delitem(sys.modules, "cutover_kv", raising=False)
    registry = Registry(
        "backend kind",
        group="cutover.tests-none",
        entry_type=BackendKind,
        builtins=["cutover_kv:KIND"],
    )
    assert "cutover_kv" not in sys.modules  # nothing imported yet
    assert registry.names() == ["kv"]
    assert "cutover_kv" in sys.modules
    assert registry.get("kv") is sys.modules["cutover_kv"].KIND


def test_the_builtin_kinds() -> None:
    assert KINDS.names() == ["fastly", "haproxy", "http", "nginx", "shell", "varnish"]
    assert KINDS.group == "cutover.kinds"
    assert KINDS.get("nginx") is NGINX
    assert NGINX.action_class() is NginxAction


def test_a_taken_name_is_refused_and_nothing_changes() -> None:
    before = (KINDS.entries(), KINDS.generation)
    with pytest.raises(PluginError) as info:
        register_kind(dataclasses.replace(FASTLY, summary="a second fastly"))
    assert info.value.message == (
        "backend kind 'fastly' is already registered (by entry point"
        " 'cutover.runbook.kinds:FASTLY' (cutover.kinds)); a register() call registers it again"
    )
    assert info.value.exit_code == 2
    assert (KINDS.entries(), KINDS.generation) == before
    assert register_kind(FASTLY) is FASTLY  # the very same object: harmless
    assert KINDS.generation == before[1]


def test_an_unknown_name_names_the_registered_ones() -> None:
    with pytest.raises(PluginError) as info:
        KINDS.get("ngnix")
    assert info.value.render() == (
        "no backend kind named 'ngnix'\n"
        "  hint: did you mean 'nginx'? (one of: fastly, haproxy, http, nginx, shell, varnish)"
    )


def test_a_plugin_that_fails_to_load_is_named() -> None:
    registry = Registry(
        "thing", group="cutover.tests-none", entry_type=BackendKind, builtins=["no_such_mod:X"]
    )
    with pytest.raises(PluginError, match=r"'no_such_mod:X' \(cutover.tests-none\) failed to load"):
        registry.names()


def test_an_entry_of_the_wrong_type_is_refused() -> None:
    registry = Registry("backend kind", group="cutover.tests-none", entry_type=BackendKind)
    with pytest.raises(PluginError, match="a backend kind must be a BackendKind, not str"):
        registry.register("fastly")  # type: ignore[arg-type]


class OddSettings(Model):
    kind: Literal["odd"] = "odd"


class OddStep(StepBase):
    kind: Literal["odd"] = "odd"


class UntaggedStep(StepBase):
    pass


def odd(**change: Any) -> BackendKind:
    return dataclasses.replace(BackendKind("odd", OddSettings, OddStep, NginxAction), **change)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (odd(name="odd kind"), "the name must be a word"),
        (odd(settings=dict), "`settings` must be a subclass of cutover.runbook.types.Model"),
        (odd(step=OddSettings), "`step` must be a subclass of cutover.runbook.backends.StepBase"),
        (odd(step=UntaggedStep), "UntaggedStep needs the field `kind: Literal['odd'] = 'odd'`"),
        (odd(settings=NginxSettings), "NginxSettings needs the field `kind: Literal['odd']"),
        (odd(action=dict), "`action` must be a subclass of cutover.Action"),
        (
            odd(action="cutover.actions.nginx.NginxAction"),
            "`action` must be an Action subclass or 'module:Class'",
        ),
    ],
    ids=["name", "settings-type", "step-type", "step-untagged", "wrong-tag", "action", "ref"],
)
def test_a_malformed_kind_is_refused(kind: BackendKind, message: str) -> None:
    with pytest.raises(ValueError, match="^" + _escape(message)):
        check_kind(kind)
    with pytest.raises(PluginError, match=r"backend kind '.*': " + _escape(message)):
        register_kind(kind)
    assert "odd" not in KINDS


def _escape(text: str) -> str:
    return re.escape(text)


def test_an_action_is_made_only_for_its_own_models() -> None:
    shell = ShellSettings()
    step = NginxStep(name="n", backend="sh", content="x")
    with pytest.raises(InputError, match="not both 'nginx': NginxStep on ShellSettings"):
        action_for(shell, step)
    assert isinstance(action_for(NginxSettings(file="/nonexistent/x"), step), NginxAction)
    with pytest.raises(InputError):
        action_for(
            NginxSettings(file="/x"),
            ShellStep(name="s", backend="b", command=["true"], undo=["true"]),
        )
