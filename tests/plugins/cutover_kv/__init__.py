"""A test plugin: the ``kv`` backend kind, a JSON file of keys and string values.

It uses only cutover's public face (``cutover.BackendKind``, ``Action``, ``Model``,
``StepBase``...) and reaches cutover through the ``cutover.kinds`` entry-point group that
tests/plugins/test_kv_plugin.py declares in a temporary ``*.dist-info``: no core file
names it. See docs/plugins.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from cutover import (
    Action,
    BackendKind,
    Change,
    Diff,
    Model,
    Reconciled,
    StepBase,
    StepProblem,
)
from cutover.errors import ReadBackError

State = dict[str, Any]
#: a value: a string (a templated number, e.g. from ``--var status=503``, becomes one)
Value = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class KvSettings(Model):
    kind: Literal["kv"] = "kv"
    file: str = Field(description="the JSON file of keys and values")
    keys: list[str] = Field(default_factory=list, description="the keys steps may set (all)")


class KvStep(StepBase):
    kind: Literal["kv"] = "kv"
    set: dict[str, Value | None] = Field(min_length=1, description="key → value (null: delete)")

    def cross_check(self, backend: Model) -> list[StepProblem]:
        allowed = backend.keys if isinstance(backend, KvSettings) else []
        return [
            StepProblem(("set", key), f"key {key!r} is not among the backend's `keys`")
            for key in self.set
            if allowed and key not in allowed
        ]


class KvAction(Action[KvSettings, KvStep]):
    kind = "kv"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(Path(self.settings.file).read_text("utf-8"))
        except FileNotFoundError:
            return {}
        assert isinstance(data, dict)
        return data

    def _write(self, values: dict[str, str | None]) -> None:
        data = self._read()
        for key, value in values.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        path = Path(self.settings.file)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), "utf-8")
        tmp.replace(path)

    def _live(self) -> dict[str, str | None]:
        data = self._read()
        return {key: data.get(key) for key in self.step.set}

    def snapshot(self) -> State:
        return {"values": self._live()}

    def plan(self, live: State) -> Diff:
        name = Path(self.settings.file).name
        return Diff(
            [Change(f"{name}[{k}]", live["values"].get(k), v) for k, v in self.step.set.items()]
        )

    def apply(self, prior: State) -> State:
        self._write(self.step.set)
        if self._live() != self.step.set:
            raise ReadBackError(f"{self.settings.file} does not hold what was written")
        return {"keys": sorted(self.step.set)}

    def rollback(self, prior: State, record: State | None) -> None:
        self._write(prior["values"])
        if self._live() != prior["values"]:
            raise ReadBackError(f"{self.settings.file} does not hold the prior values")

    def reconcile(self, prior: State, record: State | None) -> Reconciled:
        live = self._live()
        if live == self.step.set:
            return Reconciled.APPLIED
        return Reconciled.NOT_APPLIED if live == prior["values"] else Reconciled.DRIFTED


KIND = BackendKind("kv", KvSettings, KvStep, KvAction, "a JSON file of keys and values")
