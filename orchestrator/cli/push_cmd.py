"""`orch push`: render and push NTP client configuration to the devices of a site."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestrator.cli.context import (
    AcceptNewHostKeysOption,
    GroupOption,
    HostOption,
    PlatformOption,
    SiteOption,
    chosen_format,
    fleet_progress,
    options,
    selected_hosts,
)
from orchestrator.engine.push import PushOptions, push_hosts
from orchestrator.models import PushOutcome, PushResult

FORMATS = ("table", "json")
_STYLE = {
    PushOutcome.CHANGED: "green",
    PushOutcome.UNCHANGED: "dim",
    PushOutcome.DRY_RUN: "cyan",
    PushOutcome.ROLLED_BACK: "yellow",
    PushOutcome.FAILED: "bold red",
}


def push(
    ctx: typer.Context,
    site: SiteOption = None,
    host: HostOption = None,
    platform: PlatformOption = None,
    group: GroupOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the diff per device; change nothing."),
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=1000, help="Devices pushed at once.")
    ] = 50,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1.0, help="Seconds allowed per device (whole push)."),
    ] = 120.0,
    accept_new_host_keys: AcceptNewHostKeysOption = False,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help="table (default) or json.")
    ] = None,
) -> None:
    """Render and push NTP client configuration to the devices of a site.

    Exit status 1 if any device failed or was rolled back.
    """
    opts = options(ctx)
    fmt = chosen_format(opts, output_format, FORMATS)
    _, hosts = selected_hosts(opts, site=site, host=host, platform=platform, group=group)
    push_options = PushOptions(
        dry_run=dry_run,
        workers=workers,
        timeout_s=timeout,
        connect_timeout_s=min(30.0, timeout),
        accept_new_host_keys=accept_new_host_keys,
    )
    err = opts.err_console
    with fleet_progress(err) as progress:
        task = progress.add_task("dry run" if dry_run else "pushing", total=len(hosts))
        run_id, results = push_hosts(hosts, push_options, on_done=lambda _r: progress.advance(task))
    out = opts.console
    if fmt == "json":
        out.print_json(json.dumps(_json(run_id, dry_run, results)))
    else:
        _print_table(out, run_id, dry_run, results)
    if any(r.outcome in (PushOutcome.FAILED, PushOutcome.ROLLED_BACK) for r in results):
        raise typer.Exit(1)


def _json(run_id: str, dry_run: bool, results: list[PushResult]) -> dict[str, object]:
    return {
        "run_id": run_id,
        "dry_run": dry_run,
        "summary": {o.value: sum(r.outcome is o for r in results) for o in PushOutcome},
        "results": [{**asdict(r), "outcome": r.outcome.value} for r in results],
    }


def _print_table(out: Console, run_id: str, dry_run: bool, results: list[PushResult]) -> None:
    if dry_run:
        for r in results:
            if r.diff:
                out.print(r.diff, markup=False, highlight=False, end="")
    table = Table(title=f"push {run_id}" + (" (dry run)" if dry_run else ""))
    for column in ("device", "platform", "result"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason / warnings", overflow="fold", ratio=1, min_width=20)
    table.add_column("time", justify="right", no_wrap=True)
    for r in results:
        notes = "; ".join(filter(None, [_without_device(r.host, r.reason), *r.warnings]))
        # Device text is never markup: "[fd00::1]:22" in a reason would vanish as a tag.
        table.add_row(
            Text(r.host),
            Text(r.platform),
            Text(r.outcome.value, style=_STYLE[r.outcome]),
            Text(notes),
            f"{r.duration_s:.1f}s",
        )
    out.print(table)
    counts = {o: sum(r.outcome is o for r in results) for o in PushOutcome}
    out.print(", ".join(f"{n} {o.value}" for o, n in counts.items() if n), markup=False)
    backups = sorted({str(Path(r.backup_path).parent) for r in results if r.backup_path})
    if backups:
        out.print(f"backups of the changed devices: {backups[0]}", markup=False)


def _without_device(host: str, reason: str) -> str:
    """'r1 (10.0.0.1:22): connect: refused' -> 'connect: refused': the row names the device."""
    prefix = f"{host} ("
    if reason.startswith(prefix) and "): " in reason:
        return reason.split("): ", 1)[1]
    return reason


def register(app: typer.Typer) -> None:
    app.command("push")(push)
