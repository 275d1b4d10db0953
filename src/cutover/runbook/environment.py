"""Environment profiles: where a runbook or checks file runs (lab, staging, production)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cutover.runbook.control_models import NotifyTarget, ReportFile
from cutover.runbook.types import Model


class LabSettings(Model):
    """For a lab environment: which embedded lab scenario to start."""

    scenario: str = Field("pypi-2018", description="lab scenario (see docs/lab.md)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed for the lab's fault injection")
    traffic: float | None = Field(
        None,
        ge=0,
        le=500,
        description="background client requests/s (default: 20 when a guard has metric"
        " checks, else none)",
    )


class Environment(Model):
    """A named profile: its own vars, secrets and resolve map."""

    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict, description="override the document's vars")
    resolve: dict[str, str] = Field(
        default_factory=dict,
        description="hostname → address[:port] for probes, like curl --resolve",
    )
    ca_bundle: str | None = Field(None, description="CA bundle file for TLS verification")
    lab: LabSettings | None = Field(
        None, description="start the embedded lab; its hostnames are resolved to it"
    )
    notify: list[NotifyTarget] = Field(
        default_factory=list, description="more notification targets, for this environment"
    )
    report: ReportFile | None = Field(
        None, description="the run's report file in this environment (replaces the runbook's)"
    )
