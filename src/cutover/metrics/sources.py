"""Metric sources: where a metric check's values come from, in one registry.

A :class:`MetricSourceKind` is one object, like a backend kind: its name, the model of
its settings (``metric_sources.<name>``), its sampler (what answers a query with a value
per series) and a check of a query at load time. The built-ins (``prometheus``,
``fastly_stats``) are registered exactly as plugins are, through the entry-point group
``cutover.metric_sources`` (see docs/plugins.md). A sampler given as ``"module:Class"``
is imported only when a stage measures, so validating a runbook imports no HTTP client.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from cutover.plugins import Registry
from cutover.runbook.kinds import RegisteredKinds
from cutover.runbook.types import Model

if TYPE_CHECKING:
    from cutover.actions.control import ControlPlane

GROUP = "cutover.metric_sources"  #: the entry-point group of metric sources


@dataclass(frozen=True)
class Sample:
    """One answer to a query: a value per series (NaN = no value), or why there is none.

    A series is named by its labels as text (``{datacenter="LAB"}``); a scalar answer is
    the one series ``""``.
    """

    series: dict[str, float] = field(default_factory=dict)
    #: the query could not be answered (after retries): a status, a timeout, bad JSON
    error: str | None = None


def call(api: Callable[[], ControlPlane], method: str, path: str, **kwargs: Any) -> Any:
    """One API call with a client of its own, closed after it (a measurement every few
    seconds needs no pool, and a stage that ends early leaves no socket open)."""
    client = api()
    try:
        return client.request(method, path, **kwargs)
    finally:
        client.close()


class Sampler(Protocol):
    """Answers queries against one configured source (built from its settings)."""

    def sample(self, query: str) -> Sample: ...


@dataclass(frozen=True)
class MetricSourceKind:
    """A metric source kind: settings model, sampler, query check, summary; one object."""

    name: str
    settings: type[Model]
    #: a class taking the settings, or ``"module:Class"``, imported when a stage measures
    sampler: type[Sampler] | str
    #: raises ``ValueError`` for a query this source cannot answer (checked at load)
    check_query: Callable[[str], None] | None = None
    summary: str = ""

    def make_sampler(self, settings: Model) -> Sampler:
        factory: Callable[[Model], Sampler] = (
            pkgutil.resolve_name(self.sampler) if isinstance(self.sampler, str) else self.sampler
        )
        return factory(settings)


def _check_source(kind: MetricSourceKind) -> None:
    if not kind.name.isidentifier():
        raise ValueError("the name must be a word (letters, digits, underscores)")
    fields = kind.settings.model_fields if issubclass(kind.settings, Model) else {}
    if "kind" not in fields or fields["kind"].default != kind.name:
        raise ValueError(
            f"{kind.settings.__name__} needs the field"
            f" `kind: Literal[{kind.name!r}] = {kind.name!r}`"
        )


METRIC_SOURCES: Registry[MetricSourceKind] = Registry(
    "metric source",
    group=GROUP,
    entry_type=MetricSourceKind,
    builtins=[
        "cutover.metrics.prometheus:PROMETHEUS",
        "cutover.metrics.fastly_stats:FASTLY_STATS",
    ],
    check=_check_source,
)


def register_metric_source(kind: MetricSourceKind) -> MetricSourceKind:
    """Register a metric source kind (a plugin's, or a test's); a taken name is refused."""
    return METRIC_SOURCES.register(kind)


#: a metric source's settings, of any registered kind
AnyMetricSource = Annotated[Model, RegisteredKinds("settings", registry=METRIC_SOURCES)]
