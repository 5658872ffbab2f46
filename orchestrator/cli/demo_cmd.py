"""`orch demo`: lab + server + push + verify + report, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli.context import options
from orchestrator.inventory import inventory_or_packaged_lab
from orchestrator.reports import build_table

# typer keeps a docstring's line breaks, so the help is built one paragraph per line.
DEMO_HELP = (
    "Lab + server + push + verify + report, in one command.\n\n"
    "Starts orch's NTP server on 127.0.0.1 and the lab fleet on loopback (simulated IOS, "
    "CatOS and Windows devices; real Linux hosts with sshd and chronyd -x when run as root "
    "with the Debian packages installed), pushes the NTP client configuration, waits for the "
    "devices to synchronise, verifies each one, writes the HTML report and stops everything "
    "it started.\n\n"
    "Exit 0 only when every lab device is compliant."
)


def demo(
    ctx: typer.Context,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Where to write the HTML report (default: <workdir>/report.html)."
        ),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="The demo's own files: history, client log, backups, lab keys "
            "(default: <data dir>/demo, kept apart from your real history).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option("--wait", min=5.0, help="Seconds allowed for the devices to synchronise."),
    ] = 75.0,
    ntp_port: Annotated[
        int | None,
        typer.Option(
            "--ntp-port",
            min=1,
            max=65535,
            help="UDP port of the demo's NTP server (default 123 when free, else any free port).",
        ),
    ] = None,
) -> None:
    """Lab + server + push + verify + report, in one command (help text: DEMO_HELP)."""
    from orchestrator.lab.demo import DemoOptions, run_demo

    opts = options(ctx)
    out, err = opts.console, opts.err_console
    inventory = inventory_or_packaged_lab(opts.inventory)
    result = run_demo(
        DemoOptions(
            inventory=inventory,
            workdir=workdir,
            report_path=report,
            wait_s=wait,
            ntp_port=ntp_port,
        ),
        on_step=lambda text: err.print(f"[bold]demo:[/bold] {text}"),
    )
    for note in result.notes:
        err.print(f"note: {note}", markup=False)

    pushed = Table(title="Push")
    for column in ("Host", "Platform", "Outcome", "Reason"):
        pushed.add_column(column, overflow="fold")
    for r in result.push:
        pushed.add_row(r.host, r.platform, r.outcome.value, r.reason or "; ".join(r.warnings))
    out.print(pushed)
    if result.report is not None:
        out.print(build_table(result.report))
    out.print(
        f"Demo finished in {result.duration_s:.0f} s. Report: {result.report_path}", markup=False
    )
    if not result.all_compliant:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo", help=DEMO_HELP)(demo)
