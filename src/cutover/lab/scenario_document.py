"""Scenario files: a lab world written down (``lab/scenarios/NAME.yml``), e.g. a capture.

A scenario file holds, for each service, what its active version runs (domains,
backends with their shielding, settings, dictionaries with their items, VCL snippets
with a dynamic snippet's live content, custom VCL files) and, beside the services,
``origins``: which lab origin answers for each backend address (the lab never leaves
loopback). :class:`ScenarioDocument` is its typed form;
:func:`cutover.scenario_files.scenario_from_file` reads one (every problem located as
``FILE:LINE:COL: path: message``) into a
:class:`~cutover.lab.scenarios.Scenario` that :func:`cutover.lab.start_lab` serves
(:func:`scenario_of` of a document in memory); :func:`dump_scenario` is its YAML text.

Identifiers (service, dictionary and snippet ids) are kept as captured, so a runbook's
``services:`` map works unchanged against the served copy. Timestamps are not part of a
scenario: every record of the served world carries :data:`SERVED_STAMP`.
"""

from __future__ import annotations

import io
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cutover.errors import InputError
from cutover.lab.scenarios import SCENARIOS, Scenario, lab_id, lab_token
from cutover.lab.state import (
    Backend,
    Condition,
    DictionaryRef,
    Domain,
    Header,
    Item,
    LabState,
    Service,
    Snippet,
    VclFile,
    Version,
)

FORMAT = 1  #: the scenario-file format number
SERVED_STAMP = "2000-01-01T00:00:00Z"  #: the timestamp of every record a scenario builds
SCENARIO_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

#: The lab origins a backend address can be mapped to (``generic``: any unknown origin).
LabOrigin = Literal["generic", "object_store", "conveyor", "warehouse_app", "legacy_app"]
ScenarioName = Annotated[str, Field(pattern=SCENARIO_NAME.pattern)]


class Model(BaseModel):
    """Unknown keys are errors and values are immutable, as in every cutover document."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ScenarioDomain(Model):
    name: str = Field(min_length=1)
    comment: str = ""


class ScenarioBackend(Model):
    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    port: int = Field(443, ge=1, le=65535)
    shield: str | None = Field(None, description="the shield POP (the lab has one shield)")
    override_host: str | None = None
    use_ssl: bool = True
    comment: str = ""
    request_condition: str = Field("", description="a REQUEST condition selecting it")


class ScenarioCondition(Model):
    name: str = Field(min_length=1)
    statement: str = Field(min_length=1, description="one VCL expression")
    type: Literal["REQUEST", "CACHE", "RESPONSE"] = "REQUEST"
    priority: int = Field(100, ge=0, le=10_000)
    comment: str = ""


class ScenarioHeader(Model):
    name: str = Field(min_length=1)
    action: Literal["set", "append", "delete", "regex", "regex_repeat"]
    type: Literal["request", "cache", "response"]
    dst: str = Field(min_length=1)
    src: str = ""
    regex: str = ""
    substitution: str = ""
    ignore_if_set: bool = False
    priority: int = Field(100, ge=0, le=10_000)
    request_condition: str = ""
    cache_condition: str = ""
    response_condition: str = ""


class ScenarioDictionary(Model):
    id: str = Field(min_length=1)
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    write_only: bool = Field(False, description="its items were not read (never captured)")
    items: dict[str, str] = Field(default_factory=dict)


class ScenarioSnippet(Model):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    priority: int = Field(100, ge=0)
    dynamic: bool = False
    content: str = Field("", description="for a dynamic snippet: its live content")


class ScenarioVcl(Model):
    name: str = Field(min_length=1)
    main: bool = False
    content: str = ""


class ScenarioService(Model):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    comment: str = ""
    version: int = Field(1, ge=1, description="the captured active version's number")
    domains: list[ScenarioDomain] = Field(default_factory=list)
    backends: list[ScenarioBackend] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    dictionaries: list[ScenarioDictionary] = Field(default_factory=list)
    snippets: list[ScenarioSnippet] = Field(default_factory=list)
    vcls: list[ScenarioVcl] = Field(default_factory=list)
    conditions: list[ScenarioCondition] = Field(default_factory=list)
    headers: list[ScenarioHeader] = Field(default_factory=list)


class ScenarioDocument(Model):
    """A scenario file (format 1)."""

    format: Literal[1] = 1
    name: ScenarioName
    description: str = ""
    origins: dict[str, LabOrigin] = Field(
        default_factory=dict, description="backend address -> the lab origin answering there"
    )
    services: list[ScenarioService] = Field(min_length=1)


# -- the served world ------------------------------------------------------------------


def _service(doc: ScenarioDocument, captured: ScenarioService) -> Service:
    stamp = SERVED_STAMP
    version = Version(
        number=captured.version,
        active=True,
        locked=True,
        comment=f"scenario {doc.name}",
        created_at=stamp,
        updated_at=stamp,
        domains=[Domain(d.name, d.comment, stamp, stamp) for d in captured.domains],
        settings=dict(captured.settings),
        dictionaries=[
            DictionaryRef(d.id, d.name, d.write_only, stamp, stamp) for d in captured.dictionaries
        ],
        backends=[
            Backend(
                b.name,
                b.address,
                b.port,
                b.shield,
                b.override_host,
                b.use_ssl,
                b.comment,
                b.request_condition,
                stamp,
                stamp,
            )
            for b in captured.backends
        ],
        conditions=[
            Condition(c.name, c.statement, c.type, c.priority, c.comment, stamp, stamp)
            for c in captured.conditions
        ],
        headers=[
            Header(**h.model_dump(), created_at=stamp, updated_at=stamp)
            for h in captured.headers
        ],
        snippets=[
            Snippet(s.id, s.name, s.type, s.content, s.priority, s.dynamic, stamp, stamp)
            for s in captured.snippets
        ],
        vcls=[VclFile(v.name, v.content, v.main, stamp, stamp) for v in captured.vcls],
    )
    return Service(
        id=captured.id,
        name=captured.name,
        comment=captured.comment,
        created_at=stamp,
        updated_at=stamp,
        versions=[version],
        items={
            d.id: {k: Item(v, stamp, stamp) for k, v in d.items.items()}
            for d in captured.dictionaries
        },
        snippet_contents={s.id: s.content for s in captured.snippets if s.dynamic},
    )


def build_state(doc: ScenarioDocument) -> LabState:
    """The lab world a scenario document describes (its token derived from its name)."""
    return LabState(
        scenario=doc.name,
        token=lab_token(doc.name),
        customer_id=lab_id(doc.name, "customer"),
        public_scheme="http",
        services=[_service(doc, s) for s in doc.services],
        origins=dict(doc.origins),
    )


def served_problems(doc: ScenarioDocument) -> list[tuple[tuple[str | int, ...], str]]:
    """What would keep the lab from serving ``doc`` as written, each at its YAML path:
    VCL outside the lab's subset, a domain two services claim, duplicate names."""
    from cutover.lab.vcl_service import vcl_problems

    state = build_state(doc)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    owners: dict[str, str] = {}
    for index, (captured, service) in enumerate(zip(doc.services, state.services, strict=True)):
        where: tuple[str | int, ...] = ("services", index)
        for d_index, domain in enumerate(captured.domains):
            other = owners.setdefault(domain.name.lower(), captured.name)
            if other != captured.name:
                problems.append(
                    ((*where, "domains", d_index), f"domain {domain.name!r} is also {other}'s")
                )
        for kind in ("backends", "dictionaries", "snippets", "vcls"):
            names = [r.name for r in getattr(captured, kind)]
            for dup in sorted({n for n in names if names.count(n) > 1}):
                problems.append(((*where, kind), f"two {kind} named {dup!r}"))
        version = service.versions[0]
        problems.extend(((*where, "snippets"), p) for p in vcl_problems(service, version))
    return problems


# -- files -----------------------------------------------------------------------------


def scenario_of(doc: ScenarioDocument) -> Scenario:
    """The :class:`Scenario` serving ``doc`` (its hostnames: every captured domain)."""
    hostnames = tuple(dict.fromkeys(d.name for s in doc.services for d in s.domains))
    return Scenario(
        doc.name,
        doc.description or f"scenario file {doc.name}",
        lambda: build_state(doc),
        hostnames,
    )


def is_scenario_file(value: str) -> bool:
    """Does ``--scenario VALUE`` name a file rather than a built-in scenario?"""
    return value.endswith((".yml", ".yaml")) or "/" in value


def dump_scenario(doc: ScenarioDocument) -> str:
    """The YAML text of ``doc`` (multi-line strings, such as VCL, as literal blocks)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    def literal(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: literal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [literal(v) for v in value]
        if isinstance(value, str) and "\n" in value and not value[:1].isspace():
            return LiteralScalarString(value)
        return value

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(literal(doc.model_dump(mode="json")), out)
    return out.getvalue()


def check_scenario_name(name: str) -> str:
    """``name`` if it can name a scenario file's scenario, else :class:`InputError`."""
    if not SCENARIO_NAME.match(name) or name in SCENARIOS:
        raise InputError(
            f"cannot name a scenario {name!r}",
            hint="lower-case letters, digits, '-' and '_' (and not a built-in scenario's name)",
        )
    return name
