"""`orch push`: render and push NTP client configuration to the devices of a site;
`--restore RUN_ID` puts devices back to a run's backups, `--list-runs` lists those runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestrator import paths
from orchestrator.cli.context import (
    AcceptNewHostKeysOption,
    GlobalOptions,
    GroupOption,
    HostOption,
    PlatformOption,
    SiteOption,
    chosen_format,
    fleet_progress,
    no_match,
    options,
    selected_hosts,
)
from orchestrator.engine.backups import RunBackups, list_runs, run_backups
from orchestrator.engine.push import PushOptions, as_json, new_run_id, push_hosts
from orchestrator.engine.restore import restore_hosts
from orchestrator.engine.signals import RunControl
from orchestrator.errors import InputError
from orchestrator.inventory import inventory_or_packaged_lab, load_inventory
from orchestrator.models import Host, PushOutcome, PushResult

FORMATS = ("table", "json")
_STYLE = {
    PushOutcome.CHANGED: "green",
    PushOutcome.UNCHANGED: "dim",
    PushOutcome.DRY_RUN: "cyan",
    PushOutcome.ROLLED_BACK: "yellow",
    PushOutcome.INTERRUPTED: "yellow",
    PushOutcome.SKIPPED: "magenta",
    PushOutcome.FAILED: "bold red",
}
_NOT_OK = (PushOutcome.FAILED, PushOutcome.ROLLED_BACK, PushOutcome.INTERRUPTED)

EPILOG = """\
Examples:

  orch push --site hq --dry-run            # the diff per device; nothing is changed

  orch push --site hq --timeout 60         # 60 s per device for apply, check and restore

  orch push --list-runs                    # the runs that left backups

  orch push --restore 20260101T120000Z-3f2a1c --host r1   # r1 back to that run's backup

Every device is backed up (data directory: backups/RUN_ID/) before it is changed; a device
whose backup cannot be written is not touched. Changes add before they remove, so a device
keeps a server throughout. On failure, at the time limit or on Ctrl-C/SIGTERM the device
is put back to its backup; a second signal exits at once and names the devices that may be
half-changed. Two orch runs never change one device at the same time (a lock per device).

Exit status: 0 all changed/unchanged; 1 a device failed, was rolled back or interrupted;
2 bad input, or the data directory cannot take the backups; 130 after SIGINT (Ctrl-C),
143 after SIGTERM (the summary is printed first in both cases).
"""


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
        typer.Option(
            "--timeout",
            min=1.0,
            help="Seconds per device for apply, verification and restore together; a "
            "restore started at the limit gets --restore-timeout more.",
        ),
    ] = 120.0,
    restore_timeout: Annotated[
        float,
        typer.Option("--restore-timeout", min=1.0, help="Seconds a restore may take."),
    ] = 60.0,
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait",
            min=0.0,
            help="Seconds to wait for a device another orch run is changing.",
        ),
    ] = 10.0,
    restore: Annotated[
        str | None,
        typer.Option(
            "--restore",
            metavar="RUN_ID",
            help="Put the devices back to the backups of this run (all its devices, or "
            "those --host/--site/... select).",
        ),
    ] = None,
    list_runs_: Annotated[
        bool,
        typer.Option("--list-runs", help="List the runs that have backups, then exit."),
    ] = False,
    accept_new_host_keys: AcceptNewHostKeysOption = False,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help="table (default) or json.")
    ] = None,
) -> None:
    """Render and push NTP client configuration to the devices of a site."""
    opts = options(ctx)
    fmt = chosen_format(opts, output_format, FORMATS)
    backups = paths.backups_dir()
    if list_runs_:
        _print_runs(opts.console, fmt, list_runs(backups))
        return
    if restore is not None and dry_run:
        raise InputError("--restore and --dry-run cannot be combined")
    push_options = PushOptions(
        dry_run=dry_run,
        workers=workers,
        timeout_s=timeout,
        restore_timeout_s=restore_timeout,
        connect_timeout_s=min(30.0, timeout),
        accept_new_host_keys=accept_new_host_keys,
        lock_wait_s=lock_wait,
    )
    source = run_backups(backups, restore) if restore is not None else None
    if source is not None:
        hosts = _restore_hosts(opts, source, site, host, platform, group)
    else:
        _, hosts = selected_hosts(opts, site=site, host=host, platform=platform, group=group)
    control = RunControl()
    run_id = new_run_id()
    err = opts.err_console
    with _stop_on_signals(control, run_id), fleet_progress(err) as progress:
        label = "dry run" if dry_run else "restoring" if source else "pushing"
        task = progress.add_task(label, total=len(hosts))

        def advance(_r: PushResult) -> None:
            progress.advance(task)

        if source is not None:
            run_id, results = restore_hosts(
                hosts, source, push_options, on_done=advance, control=control, run_id=run_id
            )
        else:
            run_id, results = push_hosts(
                hosts, push_options, run_id=run_id, on_done=advance, control=control
            )
    out = opts.console
    title = f"restore of {source.run_id}: run {run_id}" if source else f"push {run_id}"
    if fmt == "json":
        out.print_json(json.dumps(_json(run_id, dry_run, results, control)))
    else:
        _print_table(out, title, dry_run, results)
    raise typer.Exit(_exit_code(results, control, err))


def _exit_code(results: list[PushResult], control: RunControl, err: Console) -> int:
    if control.signum is not None:
        return control.exit_code
    broken = [r for r in results if r.error_kind == "backup"]
    if broken:
        err.print(f"orch: error: {_without_device(broken[0].host, broken[0].reason)}", markup=False)
        return 2
    return 1 if any(r.outcome in _NOT_OK for r in results) else 0


def _restore_hosts(
    opts: GlobalOptions,
    source: RunBackups,
    site: str | None,
    host: list[str] | None,
    platform: str | None,
    group: str | None,
) -> list[Host]:
    """The inventory hosts to restore: those of the run, narrowed by the filters."""
    inventory = load_inventory(inventory_or_packaged_lab(opts.inventory))
    if host:
        missing = [h for h in host if h not in source.hosts]
        if missing:
            raise InputError(
                f"run {source.run_id} has no backup of {', '.join(missing)}",
                hint=f"it has: {', '.join(sorted(source.hosts)) or 'none'}",
            )
    names = host or sorted(source.hosts)
    unknown = [n for n in names if n not in {h.name for h in inventory.hosts}]
    if unknown:
        raise InputError(
            f"{', '.join(unknown)}: in the backups of run {source.run_id} but not in the "
            f"inventory {opts.inventory}",
            hint="restore them with the inventory they were pushed with (--inventory)",
        )
    hosts = inventory.select(site=site, hosts=names, platform=platform, group=group)
    if not hosts:
        raise no_match(site=site, host=host, platform=platform, group=group)
    return list(hosts)


@contextlib.contextmanager
def _stop_on_signals(control: RunControl, run_id: str) -> Iterator[None]:
    """SIGINT/SIGTERM stop the run (typer would turn Ctrl-C into a silent exit); a second
    one exits at once, naming the devices that may be half-changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def write(text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(sys.stderr.fileno(), text.encode())

    def handler(signum: int, _frame: object) -> None:
        if control.request_stop(signum) == 1:
            write(
                f"\norch: {signal.Signals(signum).name}: starting no more devices; devices in "
                "flight finish their change or restore their backup (again to exit now)\n"
            )
            return
        risky = control.may_be_inconsistent()
        named = ", ".join(f"{h} ({p})" for h, p in risky) or "none"
        write(f"\norch: forced exit; devices that may be inconsistent: {named}\n")
        if risky:
            hosts = " ".join(f"--host {h}" for h, _ in risky)
            write(f"orch: put them back with: orch push --restore {run_id} {hosts}\n")
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(control.exit_code)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _json(
    run_id: str, dry_run: bool, results: list[PushResult], control: RunControl
) -> dict[str, object]:
    return {
        "run_id": run_id,
        "dry_run": dry_run,
        "interrupted": control.reason if control.signum is not None else None,
        "summary": {o.value: sum(r.outcome is o for r in results) for o in PushOutcome},
        "results": [as_json(r) for r in results],
    }


def _print_table(out: Console, title: str, dry_run: bool, results: list[PushResult]) -> None:
    if dry_run:
        for r in results:
            if r.diff:
                out.print(r.diff, markup=False, highlight=False, end="")
    table = Table(title=title + (" (dry run)" if dry_run else ""))
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


def _print_runs(out: Console, fmt: str, runs: list[RunBackups]) -> None:
    if fmt == "json":
        data = [{"run_id": r.run_id, "path": str(r.path), "hosts": sorted(r.hosts)} for r in runs]
        out.print_json(json.dumps({"runs": data}))
        return
    if not runs:
        out.print(f"no run has backups in {paths.backups_dir()}", markup=False)
        return
    table = Table(title=f"runs with backups ({paths.backups_dir()})")
    table.add_column("run id", no_wrap=True)
    table.add_column("devices", justify="right")
    table.add_column("hosts", overflow="fold", ratio=1)
    for r in runs:
        names = sorted(r.hosts)
        shown = ", ".join(names[:8]) + (f", ... (+{len(names) - 8})" if len(names) > 8 else "")
        table.add_row(Text(r.run_id), str(len(names)), Text(shown))
    out.print(table)


def _without_device(host: str, reason: str) -> str:
    """'r1 (10.0.0.1:22): connect: refused' -> 'connect: refused': the row names the device."""
    prefix = f"{host} ("
    if reason.startswith(prefix) and "): " in reason:
        return reason.split("): ", 1)[1]
    if reason.startswith(f"{host}: "):
        return reason[len(host) + 2 :]
    return reason


def register(app: typer.Typer) -> None:
    app.command("push", epilog=EPILOG)(push)
