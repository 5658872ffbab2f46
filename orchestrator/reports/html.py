"""One self-contained HTML file: summary, a table per device, offset charts (inline SVG)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from orchestrator import __version__
from orchestrator.reports.charts import compliance_trend_svg, offset_chart_svg
from orchestrator.reports.data import (
    Change,
    ReportInput,
    SeriesPoint,
    iso,
    not_measured,
    offset_limit_ms,
    reach_text,
)
from orchestrator.reports.site_overview import LARGE_REPORT_FROM, offset_line_svg, site_views
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
    change: Change
    history: tuple[tuple[str, str], ...]  # (ISO time, verdict) per run in the window
    not_measured: tuple[str, ...]  # names of the checks the platform cannot measure


ChartJob = tuple[tuple[SeriesPoint, ...], float | None, str]

# From this many charts on, draw them in worker processes: matplotlib needs ~60 ms per
# chart and holds the interpreter lock, so a 1000-device report is CPU-bound.
PARALLEL_CHARTS_FROM = 64


def _draw(job: ChartJob) -> str:
    points, limit_ms, title = job
    return offset_chart_svg(points, limit_ms=limit_ms, title=title)


def _draw_all(jobs: list[ChartJob]) -> list[str]:
    """The same SVGs in the same order, serially or in a process pool (the charts are
    deterministic: a fixed `svg.hashsalt`, so both ways give identical bytes)."""
    cpus = os.cpu_count() or 1
    if len(jobs) < PARALLEL_CHARTS_FROM or cpus < 2:
        return [_draw(job) for job in jobs]
    try:
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded CLI process
        with ProcessPoolExecutor(max_workers=min(cpus, 4), mp_context=ctx) as pool:
            return list(pool.map(_draw, jobs, chunksize=16))
    except OSError:  # no process pool possible here (e.g. no /dev/shm): draw serially
        return [_draw(job) for job in jobs]


# A report over many devices (every site of a large organisation) stays quick and small:
# from LARGE_REPORT_FROM devices on, the devices table and the detail sections cover the
# devices needing action (at most DETAIL_LIMIT), each with a light inline offset line
# instead of a matplotlib chart; the others are listed compactly (_brief_devices).
DETAIL_LIMIT = 300


def render_html(data: ReportInput) -> str:
    run = data.latest
    views = []
    # Devices that need action first; the rest by site and name.
    devices = sorted(run.devices, key=lambda d: (d.complies, d.site, d.host))
    brief: list[StoredDevice] = []
    large = len(devices) >= LARGE_REPORT_FROM
    if large:
        needing = [d for d in devices if not d.complies]
        brief = needing[DETAIL_LIMIT:] + [d for d in devices if d.complies]
        devices = needing[:DETAIL_LIMIT]
    # The points of the detailed devices only (not of the 1000s listed briefly).
    series = data.series_of(d.host for d in devices)
    if large:
        charts = [offset_line_svg(series[d.host], offset_limit_ms(d)) for d in devices]
    else:
        charts = _draw_all(
            [(series[d.host], offset_limit_ms(d), f"{d.host}: offset over time") for d in devices]
        )
    for d, chart in zip(devices, charts, strict=True):
        evidence = d.evidence
        raw = evidence.get("raw") or {}
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
                change=data.change(d.host),
                history=tuple((iso(p.time), p.verdict) for p in series[d.host]),
                not_measured=tuple(c.name for c in not_measured(d)),
            )
        )
    trend = compliance_trend_svg(
        [(r.started_at, len(r.devices), r.compliant) for r in data.history],
        title="compliant devices per run",
    )
    sites: dict[str, list[int]] = {}
    for d in run.devices:
        tally = sites.setdefault(d.site, [0, 0])
        tally[0] += 1
        tally[1] += d.complies
    return _ENV.get_template("report.html.j2").render(
        sites=sorted((site, n, ok) for site, (n, ok) in sites.items()),
        trend=Markup(trend),
        run=run,
        site=data.site,
        started=iso(run.started_at),
        generated=iso(data.generated_at),
        since=iso(data.since) if data.since is not None else None,
        history_runs=len(data.history),
        counts=list(run.counts.items()),
        devices=views,
        site_overview=site_views(data.sites, now=data.generated_at),
        brief=brief,
        version=__version__,
        scope=data.scope,
        policy=data.policy,
        changed=sum(1 for v in views if v.change.changed),
        not_measured_total=sum(len(v.not_measured) for v in views),
    )
