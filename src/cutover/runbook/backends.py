"""Backend kinds' models: typed connection settings and step parameters.

Each kind has a model for its settings (``backends.<name>``) and one for the steps that
use it (``stages[].steps[]``). The models here are pure data; the kinds that tie them to
their actions, and the registry that holds them (plugins included), are in
:mod:`cutover.runbook.kinds`. What a step *does* lives in ``cutover.actions``.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from pydantic import Field, model_validator

from cutover.hints import did_you_mean
from cutover.runbook.fastly_purge import FastlyPurge
from cutover.runbook.fastly_resources import (
    FastlyBackend,
    FastlyCondition,
    FastlyHeader,
    FastlyVcl,
)
from cutover.runbook.state_settings import SENSITIVE_HELP, SensitiveEntry
from cutover.runbook.types import Model, SecretRef, Text, Timeout

PERMANENT_REDIRECTS = frozenset({"301", "308"})


class StepProblem(NamedTuple):
    """A problem a step finds with its backend, at ``path`` below the step."""

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None


class StepBase(Model):
    """Fields every step has, whatever its backend."""

    name: str = Field(min_length=1, description="what this step does, in words")
    backend: str = Field(description="name of a backend in `backends`")
    note: str = ""
    sensitive: list[SensitiveEntry] = Field(default_factory=list, description=SENSITIVE_HELP)

    @property
    def kind_name(self) -> str:
        """The step's kind (each kind's model declares ``kind: Literal[...]``)."""
        return str(getattr(self, "kind", ""))

    def permanent_redirect(self) -> bool:
        """Does this step set a permanent (301/308) redirect? Used by lint."""
        return False

    def reversible(self) -> bool:
        """Can this step be rolled back? Used by lint."""
        return True

    def cross_check(self, backend: Model) -> list[StepProblem]:
        """What is wrong with this step given its backend's settings (names that must
        exist there, say). Used by the cross-checks; a kind overrides it."""
        return []


# --- fastly ---------------------------------------------------------------------------------


class FastlySettings(Model):
    kind: Literal["fastly"] = "fastly"
    api_url: str = Field("https://api.fastly.com", description="Fastly API base URL")
    token: SecretRef = Field(description="API token (Fastly-Key), as a secret reference")
    services: dict[str, str] = Field(default_factory=dict, description="friendly name → service ID")
    timeout: Timeout = 10.0
    retries: int = Field(4, ge=0, le=10, description="attempts after a transient failure")


class FastlySnippet(Model):
    """A versioned VCL snippet, placed at ``#FASTLY <type>``."""

    type: Literal[
        "init", "recv", "hash", "hit", "miss", "pass", "fetch", "error", "deliver", "log", "none"
    ]
    content: str = Field(description="the VCL statements (for `init`: top-level VCL)")
    priority: int = Field(
        100, ge=0, le=10_000, description="lower runs first among one type's snippets"
    )
    dynamic: bool = Field(
        False,
        description="a dynamic snippet: `content` is its first content; later changes are"
        " versionless (`dynamic_snippet` steps)",
    )


class FastlyVersionChange(Model):
    """Clone the active version, change it, validate, activate."""

    add_domains: list[str] = Field(default_factory=list)
    remove_domains: list[str] = Field(default_factory=list)
    settings: dict[str, Text] = Field(default_factory=dict, description="version settings")
    snippets: dict[str, FastlySnippet | None] = Field(
        default_factory=dict,
        description="VCL snippets by name: added or replaced; `null` deletes one",
    )
    conditions: dict[str, FastlyCondition | None] = Field(
        default_factory=dict, description="conditions by name: added or replaced; `null` deletes"
    )
    headers: dict[str, FastlyHeader | None] = Field(
        default_factory=dict, description="header rules by name: added or replaced; `null` deletes"
    )
    backends: dict[str, FastlyBackend | None] = Field(
        default_factory=dict, description="backends by name: added or replaced; `null` deletes"
    )
    vcls: dict[str, FastlyVcl | None] = Field(
        default_factory=dict,
        description="custom VCL files by name: added or replaced; `null` deletes; one `main`",
    )
    comment: str = ""

    @model_validator(mode="after")
    def _one_main(self) -> FastlyVersionChange:
        main = [name for name, vcl in self.vcls.items() if vcl is not None and vcl.main]
        if len(main) > 1:
            raise ValueError(f"only one custom VCL file can be main (not {', '.join(main)})")
        return self


class FastlyStep(StepBase):
    kind: Literal["fastly"] = "fastly"
    service: str = Field(description="service name (from the backend's `services`) or ID")
    dictionary: str | None = Field(None, description="edge dictionary to change (versionless)")
    set: dict[str, Text] = Field(default_factory=dict, description="dictionary items to upsert")
    delete: list[str] = Field(default_factory=list, description="dictionary items to delete")
    version: FastlyVersionChange | None = Field(
        None, description="a new service version: clone active, change, validate, activate"
    )
    dynamic_snippet: str | None = Field(
        None, description="a dynamic snippet (by name) whose `content` changes (versionless)"
    )
    content: str | None = Field(None, description="the dynamic snippet's new content")
    purge: FastlyPurge | None = Field(
        None, description="purge cached objects: URLs, surrogate keys or all (not undone)"
    )

    @model_validator(mode="after")
    def _one_change(self) -> FastlyStep:
        changes = [self.dictionary, self.version, self.dynamic_snippet, self.purge]
        if sum(change is not None for change in changes) != 1:
            raise ValueError(
                "a fastly step changes one of a `dictionary`, a `version` or a"
                " `dynamic_snippet`, or is a `purge`"
            )
        if (self.dynamic_snippet is None) != (self.content is None):
            raise ValueError("a `dynamic_snippet` step needs `content` (and only it has one)")
        if self.dictionary is not None and not (self.set or self.delete):
            raise ValueError("a dictionary step needs `set` or `delete`")
        if self.dictionary is None and (self.set or self.delete):
            raise ValueError("`set`/`delete` need a `dictionary`")
        return self

    def cross_check(self, backend: Model) -> list[StepProblem]:
        services = backend.services if isinstance(backend, FastlySettings) else {}
        if services and self.service not in services:
            hint = did_you_mean(self.service, services)
            return [StepProblem(("service",), f"unknown service {self.service!r}", hint)]
        return []

    def permanent_redirect(self) -> bool:
        values = list(self.set.values())
        if self.version:
            values += list(self.version.settings.values())
        return any(v.strip() in PERMANENT_REDIRECTS for v in values)


# --- nginx ----------------------------------------------------------------------------------


class NginxSettings(Model):
    kind: Literal["nginx"] = "nginx"
    file: str = Field(description="the include or map file cutover manages")
    test_command: list[str] = Field(default_factory=lambda: ["nginx", "-t"])
    reload_command: list[str] = Field(default_factory=lambda: ["nginx", "-s", "reload"])
    timeout: Timeout = 30.0


class NginxStep(StepBase):
    kind: Literal["nginx"] = "nginx"
    content: str = Field(description="the whole new content of the managed file")

    def permanent_redirect(self) -> bool:
        text = self.content
        return "permanent;" in text or any(f"return {c}" in text for c in PERMANENT_REDIRECTS)


# --- http -----------------------------------------------------------------------------------


class HttpSettings(Model):
    kind: Literal["http"] = "http"
    base_url: str = Field(pattern=r"^https?://")
    token: SecretRef | None = Field(None, description="sent as `Authorization: Bearer …`")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Timeout = 10.0
    retries: int = Field(4, ge=0, le=10)


class HttpDryRun(Model):
    """Where a dry run sends this step instead (a staging API that answers the same)."""

    base_url: str = Field(pattern=r"^https?://", description="replaces the backend's base_url")


class HttpStep(StepBase):
    kind: Literal["http"] = "http"
    path: str = Field(description="path of the setting, below `base_url`")
    method: Literal["PUT", "PATCH", "POST"] = "PUT"
    body: Any = Field(description="desired JSON value")
    read_path: str | None = Field(
        None, description="where to GET the current value (default: path)"
    )
    dry_run: HttpDryRun | None = Field(
        None, description="what `run --dry-run` does instead; without it the step is refused"
    )

    def permanent_redirect(self) -> bool:
        return _mentions_permanent(self.body)

    def reversible(self) -> bool:
        # PUT/PATCH restore the value read before; a POST creates something new.
        return self.method != "POST"


def _mentions_permanent(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_mentions_permanent(v) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_permanent(v) for v in value)
    return str(value) in PERMANENT_REDIRECTS


# --- shell ----------------------------------------------------------------------------------


class ShellSettings(Model):
    kind: Literal["shell"] = "shell"
    lock_key: str | None = Field(
        None,
        min_length=1,
        description="what the commands change, named for the run locks (e.g. `dns:example.org`):"
        " runs sharing a lock_key never overlap; without one, the backend is locked per runbook",
    )
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Timeout = 60.0


class ShellDryRun(Model):
    """What a dry run runs instead of the step's commands (e.g. ``terraform plan``)."""

    command: list[Text] = Field(min_length=1, description="argument list run instead of `command`")
    undo: list[Text] | None = Field(
        None, description="argument list run instead of `undo` (default: nothing to undo)"
    )


class ShellStep(StepBase):
    kind: Literal["shell"] = "shell"
    command: list[Text] = Field(min_length=1, description="argument list; never a shell string")
    undo: list[Text] | None = Field(None, description="argument list that reverts `command`")
    irreversible: bool = Field(False, description="declare a step that cannot be undone")
    check: list[Text] | None = Field(
        None,
        description="argument list that reads the state: exit 0 = applied, 1 = not applied",
    )
    dry_run: ShellDryRun | None = Field(
        None, description="what `run --dry-run` runs instead; without it the step is refused"
    )

    @model_validator(mode="after")
    def _undo_required(self) -> ShellStep:
        if self.undo is None and not self.irreversible:
            raise ValueError("a shell step needs `undo` (or `irreversible: true`, said aloud)")
        return self

    def reversible(self) -> bool:
        return self.undo is not None
