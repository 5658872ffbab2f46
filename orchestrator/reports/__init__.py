"""Report renderers: pure functions of stored history -> text.

render(fmt, ReportInput) -> str      fmt in FORMATS
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.errors import InputError
from orchestrator.reports.csv_report import render_csv
from orchestrator.reports.data import NoRunsError, ReportInput, build_input
from orchestrator.reports.json_report import render_json
from orchestrator.reports.junit import render_junit
from orchestrator.reports.prometheus import render_prometheus
from orchestrator.reports.table import build_table, render_table


def render_html(data: ReportInput) -> str:
    # Imported on use: the charts pull in matplotlib (0.4 s, and a warning when $HOME
    # is not writable), which `orch server run` and every other command never need.
    from orchestrator.reports.html import render_html as render

    return render(data)


RENDERERS: dict[str, Callable[[ReportInput], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "junit": render_junit,
    "html": render_html,
    "prometheus": render_prometheus,
}
FORMATS: tuple[str, ...] = tuple(RENDERERS)


def render(fmt: str, data: ReportInput) -> str:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise InputError(
            f"unknown report format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}"
        ) from None
    return renderer(data)


__all__ = [
    "FORMATS",
    "RENDERERS",
    "NoRunsError",
    "ReportInput",
    "build_input",
    "build_table",
    "render",
]
