"""Backend kinds: what a runbook's ``kind:`` may name, in one registry.

A :class:`BackendKind` is one object: its name, the model of its settings
(``backends.<name>``), the model of its steps (``stages[].steps[]``), its action (what a
step does: snapshot, plan, apply, rollback, reconcile) and a one-line summary.

:data:`KINDS` holds them. The built-in kinds (fastly, nginx, http, shell, haproxy,
varnish) are registered exactly as plugins are: named as ``module:attribute``
references, loaded like the entry points of the ``cutover.kinds`` group, on the first
lookup. A plugin may also call
:func:`register_kind` at any time before its kind is used. Duplicate names are refused.

The runbook model validates ``backends`` and ``steps`` against the kinds registered *when
it validates* (:class:`RegisteredKinds`), never a list frozen at import time. An action
given as ``"module:Class"`` is imported only when a step runs, so validating a runbook
imports no HTTP client. See docs/plugins.md.
"""

from __future__ import annotations

import pkgutil
import threading
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from cutover.errors import InputError
from cutover.plugins import Registry
from cutover.runbook.backends import (
    FastlySettings,
    FastlyStep,
    HttpSettings,
    HttpStep,
    NginxSettings,
    NginxStep,
    ShellSettings,
    ShellStep,
    StepBase,
)
from cutover.runbook.proxies import HaproxySettings, HaproxyStep, VarnishSettings, VarnishStep
from cutover.runbook.types import Model

if TYPE_CHECKING:
    from cutover.actions.base import Action

GROUP = "cutover.kinds"  #: the entry-point group of backend kinds


@dataclass(frozen=True)
class BackendKind:
    """A backend kind: settings and step models, the action, a summary; one object."""

    name: str
    settings: type[Model]
    step: type[StepBase]
    #: the Action subclass, or ``"module:Class"``, imported when a step first runs
    action: type[Action] | str
    summary: str = ""
    #: ``"module:function"`` making a private copy of a backend for ``run --dry-run``
    #: (the :class:`cutover.dryrun.copies.Rehearse` signature); None: not rehearsable
    rehearsal: str | None = None

    def action_class(self) -> type[Action]:
        if isinstance(self.action, str):
            found: type[Action] = pkgutil.resolve_name(self.action)
            return found
        return self.action

    def make_action(self, settings: Model, step: StepBase) -> Action:
        """The action for ``step`` on a backend with ``settings`` (both of this kind)."""
        if not isinstance(settings, self.settings) or not isinstance(step, self.step):
            raise InputError(
                f"step {step.name!r} and its backend {step.backend!r} are not both"
                f" {self.name!r}: {type(step).__name__} on {type(settings).__name__}",
                hint="a step's kind comes from its backend: drop the step's `kind:`",
            )
        return self.action_class()(settings, step)


def _tag(model: type[Model]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None or typing.get_origin(field.annotation) is not Literal:
        return None
    return field.default if isinstance(field.default, str) else None


def check_kind(kind: BackendKind) -> None:
    """Refuse a kind whose parts do not fit together (raises ``ValueError``)."""
    if not kind.name.isidentifier():
        raise ValueError("the name must be a word (letters, digits, underscores)")
    for part, base in (("settings", Model), ("step", StepBase)):
        model = getattr(kind, part)
        if not (isinstance(model, type) and issubclass(model, base)):
            raise ValueError(f"`{part}` must be a subclass of {base.__module__}.{base.__name__}")
        if _tag(model) != kind.name:
            raise ValueError(
                f"{model.__name__} needs the field `kind: Literal[{kind.name!r}] = {kind.name!r}`"
            )
    if kind.rehearsal is not None and ":" not in kind.rehearsal:
        raise ValueError("`rehearsal` must be 'module:function'")
    if isinstance(kind.action, str):
        if ":" not in kind.action:
            raise ValueError("`action` must be an Action subclass or 'module:Class'")
        return
    from cutover.actions.base import Action

    if not (isinstance(kind.action, type) and issubclass(kind.action, Action)):
        raise ValueError("`action` must be a subclass of cutover.Action")


FASTLY = BackendKind(
    "fastly",
    FastlySettings,
    FastlyStep,
    "cutover.actions.fastly:FastlyAction",
    "Fastly API: edge dictionaries, versions",
    rehearsal="cutover.dryrun.fastly_copy:rehearse",
)
NGINX = BackendKind(
    "nginx",
    NginxSettings,
    NginxStep,
    "cutover.actions.nginx:NginxAction",
    "one nginx include/map file, tested, reloaded",
    rehearsal="cutover.dryrun.nginx_copy:rehearse",
)
HTTP = BackendKind(
    "http",
    HttpSettings,
    HttpStep,
    "cutover.actions.http:HttpAction",
    "a REST setting: GET current, PUT/PATCH desired",
)
SHELL = BackendKind(
    "shell",
    ShellSettings,
    ShellStep,
    "cutover.actions.shell:ShellAction",
    "a command and its undo, as argument lists",
)
HAPROXY = BackendKind(
    "haproxy",
    HaproxySettings,
    HaproxyStep,
    "cutover.actions.haproxy:HaproxyAction",
    "HAProxy Runtime API: map entries (and the map file), server state and weight",
)
VARNISH = BackendKind(
    "varnish",
    VarnishSettings,
    VarnishStep,
    "cutover.actions.varnish:VarnishAction",
    "Varnish CLI: a VCL loaded and made active, bans",
)

KINDS: Registry[BackendKind] = Registry(
    "backend kind",
    group=GROUP,
    entry_type=BackendKind,
    builtins=[
        f"{__name__}:{name}" for name in ("FASTLY", "NGINX", "HTTP", "SHELL", "HAPROXY", "VARNISH")
    ],
    check=check_kind,
)


def register_kind(kind: BackendKind) -> BackendKind:
    """Register a backend kind (a plugin's, or a test's); a taken name is refused."""
    return KINDS.register(kind)


class RegisteredKinds:
    """A pydantic type: the union, tagged by ``kind``, of every registered kind's settings
    (or step) model, as registered when a document is validated.

    Errors keep the locations and tags pydantic gives a discriminated union (so the loader
    locates them as usual), and the JSON Schema lists every registered kind.
    """

    def __init__(
        self, part: Literal["settings", "step"], registry: Registry[Any] | None = None
    ) -> None:
        self.part = part
        #: the registry whose entries have the ``part`` model (default: the backend kinds)
        self.registry: Registry[Any] = registry if registry is not None else KINDS
        self._cache: tuple[int, Any, TypeAdapter[Any]] | None = None
        self._lock = threading.Lock()

    def union(self) -> Any:
        """The current union type (``Annotated[Union[...], Field(discriminator="kind")]``)."""
        return self._current()[1]

    def _current(self) -> tuple[int, Any, TypeAdapter[Any]]:
        kinds = self.registry.entries()  # loads the built-ins and plugins on first use
        with self._lock:
            if self._cache is None or self._cache[0] != self.registry.generation:
                models = tuple(getattr(k, self.part) for k in kinds.values())
                union: Any = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
                self._cache = (self.registry.generation, union, TypeAdapter(union))
            return self._cache

    def _validate(self, value: Any, info: core_schema.ValidationInfo) -> Any:
        return self._current()[2].validate_python(value, context=info.context)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.with_info_plain_validator_function(self._validate)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self._current()[2].core_schema)


#: a backend's settings, of any registered kind
AnySettings = Annotated[Model, RegisteredKinds("settings")]
#: a step, of any registered kind
AnyStep = Annotated[StepBase, RegisteredKinds("step")]


def action_for(settings: Model, step: StepBase) -> Action:
    """The action that carries out ``step`` on a backend with ``settings``: its kind's."""
    return KINDS.get(step.kind_name).make_action(settings, step)
