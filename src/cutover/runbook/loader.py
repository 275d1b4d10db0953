"""Load runbooks and checks files: parse, render for an environment, validate, cross-check.

Every problem of a file is collected and raised together as one
:class:`~cutover.errors.DocumentError` (exit code 2), each located as
``FILE:LINE:COL: YAML.path: message``. Variable precedence, lowest first: the document's
``vars`` < the environment's ``vars`` < ``--vars-file`` < ``--var key=value``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from cutover.errors import DocumentError, Problem, VariableError
from cutover.runbook.document import Document, PathKey, load_document
from cutover.runbook.includes import Refusal, include_roots, load_included, locate
from cutover.runbook.problems import did_you_mean, problems_from_validation
from cutover.runbook.render import Renderer, bounded_rendering, is_template

if TYPE_CHECKING:
    from cutover.runbook.models import Runbook
    from cutover.runbook.probe_models import ChecksFile

M = TypeVar("M", bound=BaseModel)

#: What ``{{ lab.* }}`` holds when no lab is running (validate, schema checks).
LAB_PLACEHOLDER: dict[str, Any] = {
    "api_url": "http://127.0.0.1:0",
    "data_address": "127.0.0.1:0",
    "token_env": "CUTOVER_LAB_TOKEN",
    "service_ids": {"legacy": "LAB-LEGACY", "warehouse": "LAB-WAREHOUSE", "files": "LAB-FILES"},
    "hostnames": [],
}


@dataclass(frozen=True)
class VarOverrides:
    """What the command line adds to loading: variables (``--vars-file``, ``--var
    key=value``) and the folders includes may also read from (``--include-root``)."""

    files: tuple[Path, ...] = ()
    pairs: tuple[str, ...] = ()
    include_roots: tuple[Path, ...] = ()

    def resolve(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for path in self.files:
            doc = load_document(path)
            if not isinstance(doc.data, dict):
                raise DocumentError(
                    [doc.positions.problem((), "a vars file must be a mapping of name: value")]
                )
            merged.update(doc.data)
        for pair in self.pairs:
            name, sep, raw = pair.partition("=")
            if not sep or not name.strip():
                raise VariableError(
                    f"--var {pair!r} is not key=value", hint="write e.g. --var percent=10"
                )
            merged[name.strip()] = parse_scalar(raw)
        return merged


def parse_scalar(raw: str) -> Any:
    """``--var`` values: true/false, integers and decimals become typed; the rest is text."""
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


@dataclass
class Loaded(Generic[M]):
    """A validated document for one environment, with where it came from."""

    model: M
    document: Document
    environment: str | None
    variables: dict[str, Any]
    warnings: list[Problem] = field(default_factory=list)
    #: probe set name → directory its data files are relative to
    probe_bases: dict[str, Path] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return self.document.path


def _context(
    doc: Document,
    environment: str | None,
    overrides: Mapping[str, Any],
    lab: Mapping[str, Any] | None,
    problems: list[Problem],
) -> dict[str, Any]:
    data = doc.data
    variables: dict[str, Any] = {}
    base = data.get("vars", {})
    if isinstance(base, dict):
        variables.update(base)
    envs = data.get("environments", {})
    env_data: Any = None
    if environment is not None:
        if not isinstance(envs, dict) or environment not in envs:
            names = list(envs) if isinstance(envs, dict) else []
            problems.append(
                doc.positions.problem(
                    ("environments",),
                    f"no environment named {environment!r}",
                    hint=did_you_mean(environment, names) or "add it under `environments`",
                )
            )
        else:
            env_data = envs[environment]
            env_vars = env_data.get("vars", {}) if isinstance(env_data, dict) else {}
            if isinstance(env_vars, dict):
                variables.update(env_vars)
    origin: dict[str, PathKey] = {name: ("vars", name) for name in variables}
    if isinstance(env_data, dict) and isinstance(env_data.get("vars"), dict):
        origin.update(
            {name: ("environments", str(environment), "vars", name) for name in env_data["vars"]}
        )
    variables.update(overrides)
    context: dict[str, Any] = dict(variables)
    context["environment"] = environment or ""
    if isinstance(env_data, dict) and env_data.get("lab") is not None:
        context["lab"] = dict(lab) if lab is not None else LAB_PLACEHOLDER
    # Variables may themselves be templates over the lab and the plain variables.
    renderer = Renderer(context, doc.positions)
    for name, value in variables.items():
        if name not in overrides and isinstance(value, str) and is_template(value):
            context[name] = renderer.render_string(value, origin.get(name, ("vars", name)))
    problems.extend(renderer.problems)
    return context


def _validate(
    model: type[M],
    doc: Document,
    environment: str | None,
    overrides: Mapping[str, Any],
    lab: Mapping[str, Any] | None,
) -> tuple[M | None, dict[str, Any], Any, list[Problem]]:
    problems: list[Problem] = []
    if not isinstance(doc.data, dict):
        problems.append(doc.positions.problem((), "the document must be a mapping (key: value)"))
        return None, {}, doc.data, problems
    context = _context(doc, environment, overrides, lab, problems)
    if problems:  # an unknown environment: rendering would only cascade
        return None, context, doc.data, problems
    skip: set[PathKey] = {("vars",)}
    envs = doc.data.get("environments")
    if isinstance(envs, dict):
        skip.update(("environments", name, "vars") for name in envs)
    renderer = Renderer(context, doc.positions)
    rendered = renderer.render_tree(doc.data, skip=frozenset(skip))
    problems.extend(renderer.problems)
    try:
        instance = model.model_validate(rendered)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, model, rendered, doc.positions))
        return None, context, rendered, problems
    return instance, context, rendered, problems


def _raise_if(problems: Sequence[Problem]) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DocumentError(_unique(errors))


def _unique(problems: Sequence[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        text = p.render()
        if text not in seen:
            seen.add(text)
            out.append(p)
    return sorted(out, key=lambda p: (p.file, p.line, p.column))


@bounded_rendering
def load_checks(
    path: Path,
    *,
    environment: str | None = None,
    overrides: VarOverrides = VarOverrides(),
    lab: Mapping[str, Any] | None = None,
) -> Loaded[ChecksFile]:
    """Load a checks file for ``environment`` (None: no environment, real DNS)."""
    from cutover.runbook.probe_models import ChecksFile

    doc = load_document(path)
    model, context, _, problems = _validate(ChecksFile, doc, environment, overrides.resolve(), lab)
    _raise_if(problems)
    assert model is not None
    bases = dict.fromkeys(model.sets, path.parent)
    loaded = Loaded(model, doc, environment, context, probe_bases=bases)
    for name, probe_set in model.sets.items():
        if probe_set.include:
            problems.append(
                doc.positions.problem(
                    ("sets", name, "include"),
                    "a checks file cannot include another",
                    hint="list the probes here, or include this set from a runbook",
                )
            )
    _raise_if(problems)
    return loaded


@bounded_rendering
def load_runbook(
    path: Path,
    *,
    environment: str,
    overrides: VarOverrides = VarOverrides(),
    lab: Mapping[str, Any] | None = None,
) -> Loaded[Runbook]:
    """Load, render and validate a runbook for one environment; raise on any error."""
    loaded, problems = _load_runbook(
        path, environment, overrides.resolve(), lab, roots=overrides.include_roots
    )
    _raise_if(problems)
    assert loaded is not None
    loaded.warnings = [p for p in problems if p.severity == "warning"]
    return loaded


@bounded_rendering
def check_runbook(path: Path, overrides: VarOverrides = VarOverrides()) -> list[Problem]:
    """Every problem and warning of a runbook, rendered for each of its environments."""
    extra = overrides.resolve()
    doc = load_document(path)
    envs = doc.data.get("environments") if isinstance(doc.data, dict) else None
    names: list[str | None] = list(envs) if isinstance(envs, dict) and envs else [None]
    found: list[Problem] = []
    for name in names:
        _, problems = _load_runbook(path, name, extra, None, doc=doc, roots=overrides.include_roots)
        found.extend(problems)
    return _unique(found)


def _load_runbook(
    path: Path,
    environment: str | None,
    overrides: Mapping[str, Any],
    lab: Mapping[str, Any] | None,
    doc: Document | None = None,
    roots: Sequence[Path] = (),
) -> tuple[Loaded[Runbook] | None, list[Problem]]:
    from cutover.runbook.crossref import cross_check
    from cutover.runbook.lint import lint
    from cutover.runbook.models import Runbook

    doc = doc or load_document(path)
    model, context, _, problems = _validate(Runbook, doc, environment, overrides, lab)
    if model is None:
        return None, problems
    loaded = Loaded(model, doc, environment, context)
    problems.extend(_resolve_includes(loaded, context, include_roots(path.parent, roots)))
    if any(p.severity == "error" for p in problems):
        return None, problems
    problems.extend(cross_check(loaded))
    problems.extend(lint(loaded))
    return loaded, problems


def _resolve_includes(
    loaded: Loaded[Any], context: Mapping[str, Any], roots: Sequence[Path]
) -> list[Problem]:
    """Replace each ``include`` probe set by the set it names in its checks file (only
    inside ``roots``, only from a file shaped like a checks file: see
    :mod:`cutover.runbook.includes`)."""
    runbook = loaded.model
    positions = loaded.document.positions
    base = loaded.source.parent
    problems: list[Problem] = []
    sets = dict(runbook.probes)
    files: dict[Path, ChecksFile | None] = {}  # each included file is loaded and validated once
    for name, probe_set in runbook.probes.items():
        loaded.probe_bases[name] = base
        if not probe_set.include:
            continue
        at = ("probes", name, "include")
        target = locate(probe_set.include, base, roots)
        if isinstance(target, Path) and target not in files:
            files[target] = None  # a refused file is reported once, at its first include
            found = _included_checks(loaded, context, probe_set.include, target)
            if isinstance(found, Refusal):
                target = found
            else:
                files[target] = found[0]
                problems.extend(found[1])
        if isinstance(target, Refusal):  # located at the `include:` that names it
            problems.append(positions.problem(at, target.message, hint=target.hint))
            continue
        checks = files[target]
        if checks is None:
            continue
        wanted = probe_set.set or name
        if wanted not in checks.sets:
            problems.append(
                positions.problem(
                    at,
                    f"{probe_set.include} has no probe set {wanted!r}",
                    hint=did_you_mean(wanted, checks.sets),
                )
            )
            continue
        sets[name] = checks.sets[wanted]
        loaded.probe_bases[name] = target.parent
    loaded.model = runbook.model_copy(update={"probes": sets})
    return problems


def _included_checks(
    loaded: Loaded[Any], context: Mapping[str, Any], include: str, target: Path
) -> Refusal | tuple[ChecksFile | None, list[Problem]]:
    """Load and validate the checks file ``target`` an ``include`` names (None and its
    problems when it is invalid), or why it is refused.

    Its variables: the included file's vars, then its own profile of the runbook's
    environment (if it has one), then everything the runbook knows: the runbook wins.
    """
    from cutover.runbook.probe_models import ChecksFile

    doc = load_included(include, target, ChecksFile.model_fields)
    if isinstance(doc, Refusal):
        return doc
    envs = doc.data.get("environments")
    same = loaded.environment if isinstance(envs, dict) and loaded.environment in envs else None
    checks, _, _, found = _validate(ChecksFile, doc, same, context, context.get("lab"))
    return checks, found


__all__ = ["Loaded", "VarOverrides", "check_runbook", "load_checks", "load_runbook"]
