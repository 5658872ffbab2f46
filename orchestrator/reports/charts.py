"""Charts drawn with matplotlib, returned as inline SVG markup.

Uses the object-oriented Figure API with the SVG backend (no pyplot state, no display
needed). Text stays text (`svg.fonttype: none`) so each chart is a few KB, and the
metadata that would name external URLs is dropped: the report must be one
self-contained file.
"""

from __future__ import annotations

import datetime as _dt
import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from orchestrator.reports.data import SeriesPoint

_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
BLUE, RED, GREEN, GREY = "#2c7be5", "#d62728", "#2e7d32", "#999999"


@contextmanager
def _chart(title: str) -> Iterator[tuple[Figure, Axes, list[str]]]:
    """A small figure with one axes; the SVG text lands in the list on exit."""
    out: list[str] = []
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "orch", "font.size": 8}):
        fig = Figure(figsize=(6.4, 2.0), dpi=96)
        # Fixed margins: constrained layout costs half the drawing time, and a report
        # of a large fleet draws one chart per device.
        fig.subplots_adjust(left=0.11, right=0.98, top=0.86, bottom=0.2)
        ax = fig.add_subplot()
        # A figure text, not an axes title: title placement re-measures the tick labels.
        fig.text(0.11, 0.9, title, ha="left", va="bottom")
        ax.grid(True, linewidth=0.3)
        yield fig, ax, out
        buffer = io.StringIO()
        with warnings.catch_warnings():
            # Runs seconds apart (a --wait loop, tests) make AutoDateLocator fall back to
            # its default interval with a UserWarning; the fallback draws fine.
            warnings.simplefilter("ignore", UserWarning)
            fig.savefig(buffer, format="svg", metadata=_NO_METADATA)
    svg = buffer.getvalue()
    out.append(svg[svg.index("<svg") :])


def _dates(ax: Axes, unix_times: Sequence[float]) -> Any:
    stamps = [_dt.datetime.fromtimestamp(t, _dt.UTC) for t in unix_times]
    locator = AutoDateLocator(maxticks=6)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    numbers = date2num(stamps)  # type: ignore[no-untyped-call]
    if len(set(unix_times)) == 1:
        # One instant: matplotlib would pad the axis by years; show the hour around it.
        half_hour = 1 / 48  # date numbers are days
        ax.set_xlim(numbers[0] - half_hour, numbers[0] + half_hour)
    return numbers


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def offset_chart_svg(points: Sequence[SeriesPoint], *, limit_ms: float | None, title: str) -> str:
    """Offset (ms) per run, the policy band dashed, non-compliant runs as red crosses."""
    measured = [(p, p.offset_ms) for p in points if p.offset_ms is not None]
    with _chart(title) as (_fig, ax, out):
        ax.set_ylabel("offset (ms)")
        if measured:
            times = _dates(ax, [p.time for p, _ in measured])
            ax.plot(times, [v for _, v in measured], color=BLUE, linewidth=1.8, marker="o", ms=4)
            bad = [
                (t, v)
                for t, (p, v) in zip(times, measured, strict=True)
                if p.verdict != "compliant"
            ]
            if bad:
                ax.scatter(
                    [t for t, _ in bad], [v for _, v in bad], color=RED, marker="x", zorder=3
                )
        else:
            _empty(ax, "no offset reported")
        if limit_ms is not None:
            for bound in (limit_ms, -limit_ms):
                ax.axhline(bound, color=RED, linestyle="--", linewidth=0.8)
        ax.axhline(0.0, color=GREY, linewidth=0.5)
    return out[0]


def compliance_trend_svg(runs: Sequence[tuple[float, int, int]], *, title: str) -> str:
    """Devices judged and devices compliant per run: (Unix time, total, compliant)."""
    with _chart(title) as (_fig, ax, out):
        ax.set_ylabel("devices")
        if runs:
            times = _dates(ax, [t for t, _, _ in runs])
            ax.plot(times, [n for _, n, _ in runs], color=GREY, linewidth=1.2, label="judged")
            ax.plot(
                times,
                [c for _, _, c in runs],
                color=GREEN,
                linewidth=1.8,
                marker="o",
                ms=4,
                label="compliant",
            )
            ax.set_ylim(0, max(n for _, n, _ in runs) * 1.15 + 0.5)  # headroom for "judged"
            ax.legend(loc="lower left", frameon=False)
        else:
            _empty(ax, "no runs")
    return out[0]
