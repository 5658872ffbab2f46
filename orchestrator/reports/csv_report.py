"""CSV: one row per device per run in the window, for spreadsheets and trend tools."""

from __future__ import annotations

import csv
import io

from orchestrator.reports.data import ReportInput, iso, not_measured

COLUMNS = (
    "run_id",
    "run_started_at",
    "host",
    "site",
    "platform",
    "verdict",
    "reason",
    "offset_ms",
    "stratum",
    "reach",
    "peer",
    "not_measured",
)


def render_csv(data: ReportInput) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for run in data.history:
        for d in run.devices:
            writer.writerow(
                (
                    run.id,
                    iso(run.started_at),
                    d.host,
                    d.site,
                    d.platform,
                    d.verdict.value,
                    d.reason,
                    "" if d.offset_ms is None else repr(d.offset_ms),
                    "" if d.stratum is None else d.stratum,
                    "" if d.reach is None else f"{d.reach:o}",
                    d.peer or "",
                    " ".join(c.name for c in not_measured(d)),
                )
            )
    return buffer.getvalue()
