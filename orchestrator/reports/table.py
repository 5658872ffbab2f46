"""Rich table of the latest run: one row per device, verdict and reason first."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from orchestrator.models import Verdict
from orchestrator.reports.data import ReportInput, iso, reach_text

VERDICT_STYLE = {
    Verdict.COMPLIANT: "green",
    Verdict.DRIFTING: "yellow",
    Verdict.UNSYNCHRONISED: "red",
    Verdict.SYNCED_ELSEWHERE: "magenta",
    Verdict.MISCONFIGURED: "yellow",
    Verdict.UNREACHABLE: "red",
    Verdict.BLOCKED: "red",
}


def build_table(data: ReportInput) -> Group:
    """The renderable (for a console that keeps colours)."""
    run = data.latest
    table = Table(title=f"NTP compliance, run {run.id} at {iso(run.started_at)}")
    # Identity and numbers never wrap; the reason takes whatever width is left.
    table.add_column("Host", no_wrap=True)
    table.add_column("Site", no_wrap=True)
    table.add_column("Platform", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Peer", no_wrap=True)
    table.add_column("Offset ms", justify="right", no_wrap=True)
    table.add_column("St", justify="right", no_wrap=True)
    table.add_column("Reach", justify="right", no_wrap=True)
    table.add_column("Reason", overflow="fold", ratio=1, min_width=20)
    for d in run.devices:
        table.add_row(
            d.host,
            d.site,
            d.platform,
            Text(d.verdict.value, style=VERDICT_STYLE[d.verdict]),
            d.peer or "",
            "" if d.offset_ms is None else f"{d.offset_ms:.3f}",
            "" if d.stratum is None else str(d.stratum),
            reach_text(d.reach),
            d.reason,
        )
    summary = Text(
        f"{run.compliant}/{len(run.devices)} compliant"
        + "".join(f", {n} {v}" for v, n in run.counts.items() if n and v != "compliant")
    )
    parts: list[Table | Text] = [table, summary]
    if run.unknown_clients:
        addresses = ", ".join(e.address for e in run.unknown_clients)
        parts.append(Text(f"polling our server but not in the inventory: {addresses}"))
    return Group(*parts)


def render_table(data: ReportInput, *, width: int = 160) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False).print(build_table(data))
    return buffer.getvalue()
