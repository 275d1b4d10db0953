"""The run report as one self-contained HTML file (``cutover report RUN -o run.html``).

Renders :func:`cutover.report.run_document.build`'s document through a Jinja2 template
(autoescaped) with inline CSS and inline SVG charts (:mod:`cutover.report.charts`): no
script, no font, no image is fetched when the file is opened (a Content-Security-Policy
in the file says so to the browser too).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cutover.report import charts
from cutover.report.failure_text import elide_urls
from cutover.secrets import redact

SHOWN_CHAINS = 20  #: failed chains drawn; the JSON document holds every one


def render(document: dict[str, Any]) -> str:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cutover.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    markers = chart_markers(document)
    failures = document["failures"]
    html = env.get_template("run.html.j2").render(
        **document,
        breaking=document["breaking_step"],
        shown_failures=failures[:SHOWN_CHAINS],
        more_failures=max(0, len(failures) - SHOWN_CHAINS),
        rate_chart=Markup(charts.failure_rate(document["rounds"], markers)),
        guard_chart=Markup(charts.guard_evidence(document["guards"], markers)),
        off=offset_text,
        host=lambda url: urlsplit(str(url)).netloc or str(url),
        path=_path,
        short=lambda text: elide_urls(str(text), hosts_only=True),
    )
    return redact(html)


def offset_text(seconds: float | None) -> str:
    """``+1.26 s`` / ``-0.05 s`` (seconds from the breaking step)."""
    return "" if seconds is None else f"{seconds:+.2f} s"


def _path(url: str) -> str:
    parts = urlsplit(str(url))
    return parts.path + (f"?{parts.query}" if parts.query else "") if parts.netloc else str(url)


def chart_markers(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Vertical markers on every chart: the breaking step, the rollback and its verdict."""
    markers: list[dict[str, Any]] = []
    if document["breaking_step"] is not None:
        markers.append({"kind": "breaking", "label": "breaking step", "offset_s": 0.0})
    rollback = document["rollback"]
    if rollback is not None:
        markers.append(
            {"kind": "rollback_started", "label": "rollback", "offset_s": rollback["offset_s"]}
        )
        if rollback["verified_offset_s"] is not None:
            kind = "rollback_verified" if rollback["verified"] else "rollback_unverified"
            label = "verified" if rollback["verified"] else "NOT verified"
            markers.append(
                {"kind": kind, "label": label, "offset_s": rollback["verified_offset_s"]}
            )
    return markers
