"""Offset-over-time charts drawn with matplotlib, returned as inline SVG markup.

Uses the object-oriented Figure API with the Agg/SVG backends (no pyplot state, no
display needed). Text stays text (`svg.fonttype: none`) so each chart is a few KB,
and metadata that would name external URLs is dropped: the report must be one
self-contained file.
"""

from __future__ import annotations

import datetime as _dt
import io
import warnings
from collections.abc import Sequence

import matplotlib
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from orchestrator.reports.data import SeriesPoint

_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def offset_chart_svg(points: Sequence[SeriesPoint], *, limit_ms: float | None, title: str) -> str:
    """An SVG chart of offset (ms) per run; failed runs drawn as red crosses."""
    measured = [(p, p.offset_ms) for p in points if p.offset_ms is not None]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "orch", "font.size": 8}):
        fig = Figure(figsize=(6.4, 2.0), dpi=96)
        # Fixed margins: constrained layout costs half the drawing time, and a report
        # of a large fleet draws one chart per device.
        fig.subplots_adjust(left=0.11, right=0.98, top=0.86, bottom=0.2)
        ax = fig.add_subplot()
        # A figure text, not an axes title: title placement re-measures the tick labels.
        fig.text(0.11, 0.9, title, ha="left", va="bottom")
        ax.set_ylabel("offset (ms)")
        if measured:
            stamps = [_dt.datetime.fromtimestamp(p.time, _dt.UTC) for p, _ in measured]
            times = date2num(stamps)  # type: ignore[no-untyped-call]
            values = [v for _, v in measured]
            ax.plot(times, values, color="#2c7be5", linewidth=1.8, marker="o", markersize=4)
            bad = [
                (t, v)
                for t, (p, v) in zip(times, measured, strict=True)
                if p.verdict != "compliant"
            ]
            if bad:
                ax.scatter(
                    [b[0] for b in bad],
                    [b[1] for b in bad],
                    color="#d62728",
                    marker="x",
                    zorder=3,
                    label="non-compliant",
                )
            locator = AutoDateLocator(maxticks=6)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        else:
            ax.text(
                0.5,
                0.5,
                "no offset reported",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="#666666",
            )
            ax.set_xticks([])
            ax.set_yticks([])
        if limit_ms is not None:
            for bound in (limit_ms, -limit_ms):
                ax.axhline(bound, color="#d62728", linestyle="--", linewidth=0.8)
        ax.axhline(0.0, color="#999999", linewidth=0.5)
        ax.grid(True, linewidth=0.3)
        buffer = io.StringIO()
        with warnings.catch_warnings():
            # Runs seconds apart (a --wait loop, tests) make AutoDateLocator fall back to
            # its default interval with a UserWarning; the fallback draws fine.
            warnings.simplefilter("ignore", UserWarning)
            fig.savefig(buffer, format="svg", metadata=_NO_METADATA)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
