"""One self-contained HTML file: summary, a table per device, offset charts (inline SVG)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from orchestrator.reports.charts import compliance_trend_svg, offset_chart_svg
from orchestrator.reports.data import ReportInput, iso, offset_limit_ms, reach_text
from orchestrator.store.records import StoredDevice

_ENV = Environment(
    loader=PackageLoader("orchestrator.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class _DeviceView:
    device: StoredDevice
    offset: str
    reach: str
    chart: Markup
    raw: tuple[tuple[str, str], ...]
    associations: tuple[dict[str, Any], ...]  # the parsed rows, as stored


def render_html(data: ReportInput) -> str:
    run = data.latest
    views = []
    # Devices that need action first; the rest by site and name.
    for d in sorted(run.devices, key=lambda d: (d.complies, d.site, d.host)):
        evidence = d.evidence
        raw = evidence.get("raw") or {}
        chart = offset_chart_svg(
            data.series(d.host), limit_ms=offset_limit_ms(d), title=f"{d.host}: offset over time"
        )
        views.append(
            _DeviceView(
                device=d,
                offset="" if d.offset_ms is None else f"{d.offset_ms:.3f}",
                reach=reach_text(d.reach),
                # Our own matplotlib output, free of scripts and external references.
                chart=Markup(chart),
                raw=tuple((str(k), str(v)) for k, v in raw.items()),
                associations=tuple(
                    a for a in evidence.get("associations") or () if isinstance(a, dict)
                ),
            )
        )
    trend = compliance_trend_svg(
        [(r.started_at, len(r.devices), r.compliant) for r in data.history],
        title="compliant devices per run",
    )
    return _ENV.get_template("report.html.j2").render(
        trend=Markup(trend),
        run=run,
        site=data.site,
        started=iso(run.started_at),
        generated=iso(data.generated_at),
        since=iso(data.since) if data.since is not None else None,
        history_runs=len(data.history),
        counts=list(run.counts.items()),
        devices=views,
    )
