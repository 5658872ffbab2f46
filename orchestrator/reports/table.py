"""Rich table of the latest run: one row per device, verdict and reason first."""

from __future__ import annotations

import io
import re

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderResult
from rich.table import Table
from rich.text import Text

from orchestrator.models import Verdict
from orchestrator.reports.data import ReportInput, iso, not_measured, reach_text
from orchestrator.store.records import StoredDevice, StoredRun

VERDICT_STYLE = {
    Verdict.COMPLIANT: "green",
    Verdict.DRIFTING: "yellow",
    Verdict.UNSYNCHRONISED: "red",
    Verdict.SYNCED_ELSEWHERE: "magenta",
    Verdict.MISCONFIGURED: "yellow",
    Verdict.UNREACHABLE: "red",
    Verdict.BLOCKED: "red",
}


# Dropped, in this order, when the terminal is too narrow for every column: the
# reason (what to act on) must stay readable rather than be cut to "…".
_OPTIONAL = ("Site", "Platform", "Peer")
_COLUMNS = ("Host", "Site", "Platform", "Verdict", "Peer", "Offset ms", "St", "Reach")
_JUSTIFY: dict[str, JustifyMethod] = {"Offset ms": "right", "St": "right", "Reach": "right"}
_REASON_MIN = 20


def _without_device(host: str, reason: str) -> str:
    """'could not read the device: r1 (10.0.0.1:22): connect: ...' -> '...: connect: ...':
    the row already names the device."""
    return re.sub(rf"{re.escape(host)} \([^()]*\): ", "", reason, count=1)


def _measured(d: StoredDevice, check: str, text: str) -> str:
    """The cell, or "n/m" where the platform cannot measure the value."""
    if not text and any(c.name == check for c in not_measured(d)):
        return "n/m"
    return text


def _widest(column: str, rows: list[dict[str, str | Text]]) -> int:
    return max([cell_len(column), *(cell_len(str(row[column])) for row in rows)])


class _DeviceTable:
    """The device rows, with as many columns as the console width allows."""

    def __init__(self, run: StoredRun) -> None:
        self.run = run

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = [self._cells(d) for d in self.run.devices]
        # A column no device filled (no peer, no offset: all unreachable) only takes room.
        filled = [c for c in _COLUMNS if c in ("Host", "Verdict") or any(str(r[c]) for r in rows)]
        for dropped in range(len(_OPTIONAL) + 1):
            shown = [c for c in filled if c not in _OPTIONAL[:dropped]]
            # each column: its widest cell + 2 padding + 1 rule; then the reason's minimum
            needed = 1 + _REASON_MIN + 3 + sum(_widest(c, rows) + 3 for c in shown)
            if needed <= options.max_width:
                break
        yield self._table(shown, rows)

    @staticmethod
    def _cells(d: StoredDevice) -> dict[str, str | Text]:
        # Text, never markup: a reason naming "[fd00::1]:22" would lose it as a tag.
        return {
            "Host": Text(d.host),
            "Site": Text(d.site),
            "Platform": Text(d.platform),
            "Verdict": Text(d.verdict.value, style=VERDICT_STYLE[d.verdict]),
            "Peer": Text(d.peer or ""),
            "Offset ms": _measured(
                d, "offset", "" if d.offset_ms is None else f"{d.offset_ms:.3f}"
            ),
            "St": _measured(d, "stratum", "" if d.stratum is None else str(d.stratum)),
            "Reach": _measured(d, "reach", reach_text(d.reach)),
            "Reason": Text(_without_device(d.host, d.reason)),
        }

    def _table(self, shown: list[str], rows: list[dict[str, str | Text]]) -> Table:
        run = self.run
        table = Table(title=f"NTP compliance, run {run.id} at {iso(run.started_at)}")
        # Identity and numbers never wrap; the reason takes whatever width is left.
        for name in shown:
            table.add_column(name, justify=_JUSTIFY.get(name, "left"), no_wrap=True)
        table.add_column("Reason", overflow="fold", ratio=1, min_width=_REASON_MIN)
        for row in rows:
            table.add_row(*(row[name] for name in (*shown, "Reason")))
        return table


def build_table(data: ReportInput) -> Group:
    """The renderable (for a console that keeps colours)."""
    run = data.latest
    summary = Text(
        f"{run.compliant}/{len(run.devices)} compliant"
        + "".join(f", {n} {v}" for v, n in run.counts.items() if n and v != "compliant")
    )
    parts: list[_DeviceTable | Text] = [_DeviceTable(run), summary]
    unmeasured = sum(len(not_measured(d)) for d in run.devices)
    if unmeasured:
        parts.append(Text(f"{unmeasured} check(s) not measured (n/m): the platform lacks them"))
    if run.unknown_clients:
        addresses = ", ".join(e.address for e in run.unknown_clients)
        parts.append(Text(f"polling our server but not in the inventory: {addresses}"))
    return Group(*parts)


def render_table(data: ReportInput, *, width: int = 160) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False).print(build_table(data))
    return buffer.getvalue()
