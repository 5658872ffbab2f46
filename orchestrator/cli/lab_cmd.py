"""`orch lab`: a simulated fleet on loopback, for trying orch without hardware."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from orchestrator import paths
from orchestrator.cli.context import options
from orchestrator.errors import InputError
from orchestrator.inventory import inventory_or_packaged_lab

group = typer.Typer(
    help="A simulated fleet on loopback, for trying orch without hardware.", no_args_is_help=True
)


TABLE_ROWS = 25  # a 500-device lab lists its first devices; the inventory has them all


def _endpoint_table(status: dict[str, Any]) -> Table:
    endpoints = status.get("endpoints", [])
    caption = None
    if len(endpoints) > TABLE_ROWS:
        caption = f"... and {len(endpoints) - TABLE_ROWS} more: see the inventory"
        endpoints = endpoints[:TABLE_ROWS]
    table = Table(title=None, box=None, pad_edge=False, caption=caption, caption_justify="left")
    for column in ("Device", "Platform", "Address", "Port", "Login"):
        table.add_column(column)
    for ep in endpoints:
        login = ep.get("username", "")
        if ep.get("key_file"):
            login += " (key)"
        table.add_row(ep["name"], ep["platform"], ep["address"], str(ep["port"]), login)
    return table


def _summary(status: dict[str, Any]) -> list[str]:
    endpoints = status.get("endpoints", [])
    counts: dict[str, int] = {}
    for ep in endpoints:
        counts[ep["platform"]] = counts.get(ep["platform"], 0) + 1
    kinds = ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))
    lines = [f"Lab running (pid {status.get('pid')}): {len(endpoints)} devices ({kinds})"]
    if status.get("linux"):
        lines.append(str(status["linux"]))
    lines.append(f"Inventory: {status.get('inventory')}")
    lines.append(
        f"NTP: devices poll 127.0.0.1 port {status.get('ntp_port')} "
        f"every {status.get('poll_interval_s')} s"
    )
    return lines


@group.command("up")
def up(
    ctx: typer.Context,
    devices: Annotated[
        int | None,
        typer.Option("--devices", "-n", min=1, help="Generate N simulated devices instead."),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory",
            help="Lab inventory to serve (default: the global --inventory, inventories/lab).",
        ),
    ] = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal until Ctrl-C.")
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option("--poll-interval", min=0.1, help="Seconds between the devices' NTP polls."),
    ] = 2.0,
    ntp_port: Annotated[
        int,
        typer.Option("--ntp-port", min=1, max=65535, help="UDP port of the NTP server to poll."),
    ] = 123,
    ssh_port: Annotated[
        int,
        typer.Option("--ssh-port", min=1, max=65535, help="SSH port with --devices."),
    ] = 2222,
    linux: Annotated[
        int,
        typer.Option(
            "--linux",
            min=0,
            max=250,
            help="Real Linux hosts (127.0.2.x) to add with --devices; needs root, sshd, chrony.",
        ),
    ] = 0,
) -> None:
    """Start the lab (in the background unless --foreground) and write its inventory."""
    # Imported here: the lab pulls in asyncssh, which no other command needs at start-up.
    from orchestrator.lab import daemon

    opts = options(ctx)
    source = None
    if devices is None:
        source = inventory_or_packaged_lab(inventory or opts.inventory)
        if not source.is_dir():
            raise InputError(f"{source}: lab inventory directory not found")
    lab_options = daemon.LabOptions(
        inventory=source,
        devices=devices,
        poll_interval_s=poll_interval,
        ntp_port=ntp_port,
        ssh_port=ssh_port,
        linux=linux,
    )
    if linux and devices is None:
        raise InputError("--linux goes with --devices; an inventory lists its own Linux hosts")
    state_dir = paths.lab_state_dir()
    console = opts.console
    if foreground:
        pid = daemon.running_pid(state_dir)
        if pid is not None:
            raise InputError(f"the lab is already running (pid {pid}); `orch lab down` first")

        def announce(status: dict[str, Any]) -> None:
            for line in _summary(status):
                console.print(line, markup=False)
            console.print(_endpoint_table(status))
            console.print("Press Ctrl-C to stop.")

        daemon.serve(lab_options, state_dir, announce=announce)
        console.print("Lab stopped.")
        return
    status = daemon.start_background(lab_options, state_dir)
    for line in _summary(status):
        console.print(line, markup=False)
    console.print(_endpoint_table(status))
    console.print(
        f"Log: {state_dir / daemon.LOG_FILE}; stop it with `orch lab down`.", markup=False
    )


@group.command("status")
def status(
    ctx: typer.Context,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help="table (default) or json.")
    ] = None,
) -> None:
    """Show whether the lab runs and its devices (`-f json` for scripts). Exit 1 if not."""
    # Imported here: the lab pulls in asyncssh, which no other command needs at start-up.
    from orchestrator.lab import daemon

    opts = options(ctx)
    fmt = output_format or opts.output_format
    console = opts.console
    state_dir = paths.lab_state_dir()
    pid = daemon.running_pid(state_dir)
    current = daemon.read_status(state_dir)
    if fmt == "json":
        running = pid is not None and current is not None and current.get("state") == "running"
        document = current if running and current is not None else {"state": "stopped"}
        console.print(json.dumps(document, indent=2), markup=False)
        if not running:
            raise typer.Exit(1)
        return
    if fmt not in (None, "table"):
        raise InputError(f"--format {fmt!r}: choose one of table, json")
    if pid is None or current is None:
        console.print("Lab: not running.")
        raise typer.Exit(1)
    if current.get("state") != "running":
        console.print(f"Lab: {current.get('state')} (pid {pid}).", markup=False)
        raise typer.Exit(1)
    uptime = int(time.time() - float(current.get("started", time.time())))
    for line in _summary(current):
        console.print(line, markup=False)
    console.print(f"Up {uptime} s.")
    console.print(_endpoint_table(current))


@group.command("down")
def down(ctx: typer.Context) -> None:
    """Stop the lab and everything it started."""
    # Imported here: the lab pulls in asyncssh, which no other command needs at start-up.
    from orchestrator.lab import daemon

    console = options(ctx).console
    pid = daemon.stop_background(paths.lab_state_dir())
    if pid is None:
        console.print("Lab: not running; nothing to stop.")
    else:
        console.print(f"Lab stopped (pid {pid}).")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="lab")
