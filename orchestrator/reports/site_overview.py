"""The site overview of a report across sites: one row per site (devices, compliant,
worst verdict, last run, stale), as JSON, a rich table and HTML (with a per-site trend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from orchestrator.reports.data import SeriesPoint, iso
from orchestrator.store.sites import STALE_FACTOR, SiteSummary, TrendPoint

SPARK_W, SPARK_H = 160, 28
# From this many devices on, a report is "large" (typically across many sites): the HTML
# details only the devices needing action, the JSON is written without indentation.
LARGE_REPORT_FROM = 200


def age_text(seconds: float) -> str:
    """'45 s', '12 min', '5 h', '3 d': how long ago, for a person."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def site_json(s: SiteSummary) -> dict[str, Any]:
    return {
        "site": s.site,
        "devices": s.devices,
        "compliant": s.compliant,
        "noncompliant": s.noncompliant,
        "worst_verdict": s.worst,
        "counts": dict(s.counts),
        "last_run_id": s.last_run_id,
        "last_run_at": iso(s.last_run_at),
        "schedule_s": s.schedule_s,
        "stale": s.stale,
        "trend": [
            {"time": iso(p.time), "devices": p.devices, "compliant": p.compliant} for p in s.trend
        ],
    }


def stale_text(s: SiteSummary, now: float) -> str:
    if s.schedule_s is None:
        return "schedule unknown (one run)"
    if s.stale:
        return (
            f"STALE: last run {age_text(now - s.last_run_at)} ago, more than "
            f"{STALE_FACTOR:g} x its {age_text(s.schedule_s)} schedule"
        )
    return f"every {age_text(s.schedule_s)}"


def short_schedule(s: SiteSummary) -> str:
    if s.schedule_s is None:
        return "unknown"
    every = f"every {age_text(s.schedule_s)}"
    return f"STALE ({every})" if s.stale else every


def site_table(sites: Sequence[SiteSummary], *, now: float) -> Table:
    table = Table(title="Sites", title_justify="left")
    for name, justify in (
        ("Site", "left"),
        ("Devices", "right"),
        ("Compliant", "right"),
        ("Worst", "left"),
        ("Last run", "left"),
        ("Schedule", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in sites:
        table.add_row(
            s.site,
            str(s.devices),
            str(s.compliant),
            s.worst,
            f"{age_text(now - s.last_run_at)} ago",
            short_schedule(s),
            style="red" if s.stale else None,
        )
    return table


def sparkline_svg(trend: Sequence[TrendPoint]) -> str:
    """The share of compliant devices per run as a small inline SVG line (0..100 %)."""
    if not trend:
        return ""
    t0, t1 = trend[0].time, trend[-1].time
    span = (t1 - t0) or 1.0
    points = " ".join(
        f"{2 + (p.time - t0) / span * (SPARK_W - 4):.1f},"
        f"{2 + (1 - (p.compliant / p.devices if p.devices else 0)) * (SPARK_H - 4):.1f}"
        for p in trend
    )
    last = trend[-1]
    share = 100 * last.compliant / last.devices if last.devices else 0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" role="img">'
        f"<title>compliant devices per run: {len(trend)} run(s), last {share:.0f} %</title>"
        f'<rect x="0" y="0" width="{SPARK_W}" height="{SPARK_H}" fill="#fafafa"/>'
        f'<polyline fill="none" stroke="#2e7d32" stroke-width="1.5" points="{points}"/></svg>'
    )


@dataclass(frozen=True)
class SiteView:
    summary: SiteSummary
    last_run: str
    age: str
    schedule: str
    trend_svg: str  # our own markup, numbers only


def site_views(sites: Sequence[SiteSummary], *, now: float) -> list[SiteView]:
    """Rows of the HTML site overview: stale and failing sites first."""
    ordered = sorted(sites, key=lambda s: (not s.stale, s.compliant == s.devices, s.site))
    return [
        SiteView(
            summary=s,
            last_run=iso(s.last_run_at),
            age=age_text(now - s.last_run_at),
            schedule=stale_text(s, now),
            trend_svg=sparkline_svg(s.trend),
        )
        for s in ordered
    ]


def offset_line_svg(points: Sequence[SeriesPoint], limit_ms: float | None) -> str:
    """A device's offset over the runs as a light inline SVG (large reports, where a
    matplotlib chart per device would take minutes): the line, and the +-limit band."""
    measured = [(p.time, p.offset_ms) for p in points if p.offset_ms is not None]
    width, height = 480, 80
    if not measured:
        return '<p class="meta">no offset measured in this window</p>'
    t0, t1 = measured[0][0], measured[-1][0]
    span_t = (t1 - t0) or 1.0
    top = max([abs(o) for _, o in measured] + [limit_ms or 0.0]) * 1.1 or 1.0

    def y(value: float) -> float:
        return height / 2 - value / top * (height / 2 - 4)

    line = " ".join(f"{4 + (t - t0) / span_t * (width - 8):.1f},{y(o):.1f}" for t, o in measured)
    band = ""
    if limit_ms:
        band = (
            f'<rect x="0" y="{y(limit_ms):.1f}" width="{width}" '
            f'height="{y(-limit_ms) - y(limit_ms):.1f}" fill="#e8f5e9"/>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>offset over time: '
        f"{len(measured)} run(s), last {measured[-1][1]:.3f} ms</title>{band}"
        f'<line x1="0" x2="{width}" y1="{height / 2}" y2="{height / 2}" stroke="#bbb"/>'
        f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{line}"/></svg>'
    )
