"""`orch parse`: parse saved command output offline."""

from __future__ import annotations

import codecs
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from orchestrator.cli.context import chosen_format, options
from orchestrator.errors import InputError
from orchestrator.parsing import ParsedOutput, parse_output


class OutputFormat(StrEnum):
    JSON = "json"
    TABLE = "table"


def _read(path: Path) -> str:
    try:
        return _decode(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a saved command output") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _decode(data: bytes) -> str:
    """Saved output as text. Windows PowerShell's `w32tm ... > out.txt` writes UTF-16 with
    a byte-order mark, and `Out-File -Encoding utf8` a UTF-8 one: honour the mark."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def _parse_file(path: Path, platform: str, command: str | None) -> ParsedOutput:
    try:
        return parse_output(platform, command, _read(path))
    except InputError as exc:
        if str(path) in exc.message:
            raise
        # One line naming the file first; the ParseError already names platform/command/line.
        exc.message = f"{path}: {exc.message}"
        raise


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items() if v not in (None, False))
    return str(value)


# Short headers, as devices print them, so the table fits an 80-column terminal.
_ASSOCIATION_COLUMNS = (
    ("address", "address"),
    ("refid", "refid"),
    ("st", "stratum"),
    ("when", "when_s"),
    ("poll", "poll_s"),
    ("reach", "reach"),
    ("delay", "delay_ms"),
    ("offset", "offset_ms"),
    ("jitter", "jitter_ms"),
    ("err±", "error_bound_ms"),
    ("disp", "dispersion_ms"),
    ("state", "state"),
    ("cfg", "configured"),
)
_LEFT = frozenset({"address", "refid", "state"})


# chronyc prints the offset with the opposite sign to RFC 5905 and, after "+/-", an
# error bound (not a jitter); orch converts the sign and keeps the bound as such.
CHRONY_SIGN_NOTE = (
    "offset: RFC 5905 sign, positive when the source is ahead of this clock "
    "(chronyc prints the opposite sign); error_bound_ms: chrony's +/- estimated error"
)


def _is_chrony(parsed: ParsedOutput) -> bool:
    return (parsed.command or "").startswith("chronyc")


def _json_doc(parsed: ParsedOutput) -> dict[str, Any]:
    """The parsed output as JSON; reach in both forms, chrony's error bound named as such."""
    doc = parsed.to_json_dict()
    chrony = _is_chrony(parsed)
    for row in doc.get("associations") or ():
        reach = row.get("reach")
        row["reach_octal"] = None if reach is None else f"{reach:o}"
        if chrony:
            row["error_bound_ms"], row["jitter_ms"] = row.get("jitter_ms"), None
    if chrony and "associations" in doc:
        doc["note"] = CHRONY_SIGN_NOTE
    return doc


def _table(path: Path, parsed: ParsedOutput) -> Table:
    data = _json_doc(parsed)
    title = f"{path} — {parsed.platform}: {parsed.command} (times in ms, when/poll in s"
    title += "; reach octal)" if "associations" in data else ")"
    if _is_chrony(parsed) and "associations" in data:
        title += f"\n{CHRONY_SIGN_NOTE}"
    if "associations" in data:
        # collapse_padding: one space between columns, so a 12-column row fits in 80.
        table = Table(
            title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True
        )
        rows: list[dict[str, Any]] = data["associations"]
        # Leave out columns the platform never prints (jitter on IOS, offset on NX-OS).
        columns = [
            (header, field)
            for header, field in _ASSOCIATION_COLUMNS
            if not rows or any(row.get(field) is not None for row in rows)
        ]
        for header, _ in columns:
            table.add_column(header, justify="left" if header in _LEFT else "right")
        for row in rows:
            table.add_row(
                *(
                    Text(row["reach_octal"] or "-" if field == "reach" else _cell(row[field]))
                    for _, field in columns
                )
            )
        return table
    section: dict[str, Any] = data.get("status") or data.get("config") or {}
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in section.items():
        table.add_row(key, Text(_cell(value)))
    return table


def parse(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Saved command output, one file each.")],
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            help="cisco_ios, cisco_xe, cisco_xr, cisco_nxos, cisco_catos, linux or windows.",
        ),
    ],
    command: Annotated[
        str | None,
        typer.Option(
            "--command", help="The command that produced the output; guessed when omitted."
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option("--format", "-f", help="json (default) or table."),
    ] = None,
) -> None:
    """Parse saved command output offline and print normalised JSON or a table."""
    opts = options(ctx)
    given = output_format.value if output_format else opts.output_format or "json"
    chosen = OutputFormat(chosen_format(opts, given, tuple(f.value for f in OutputFormat)))
    results = [(path, _parse_file(path, platform, command)) for path in files]
    if chosen is OutputFormat.JSON:
        docs = [_json_doc(parsed) for _, parsed in results]
        payload = docs[0] if len(docs) == 1 else docs
        typer.echo(json.dumps(payload, indent=2))
        return
    console = opts.console
    for path, parsed in results:
        table = _table(path, parsed)
        # Never squeeze addresses and offsets into ellipses: a pipe or CI log is 80
        # columns by default, so widen the console to the table's natural width.
        wide = console.options.update(max_width=1000)
        console.width = max(console.width, Measurement.get(console, wide, table).maximum)
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("parse")(parse)
