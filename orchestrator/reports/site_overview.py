"""The site overview of a report across sites: one row per site (devices, compliant,
worst verdict, last run, stale), as JSON, a rich table and HTML (with a per-site trend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from orchestrator.reports.data import iso
from orchestrator.store.sites import STALE_FACTOR, SiteSummary, TrendPoint

SPARK_W, SPARK_H = 160, 28


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
