"""Global CLI options and the consoles every command prints through."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestrator.errors import InputError, InventoryError
from orchestrator.inventory import Inventory, inventory_or_packaged_lab, load_inventory
from orchestrator.models import Host

DEFAULT_INVENTORY = Path("inventories/lab")


@dataclass
class GlobalOptions:
    inventory: Path
    output_format: str | None
    verbose: int
    no_color: bool
    db: str | None = None  # global --db: history database path or URL (see store.target)

    @property
    def console(self) -> Console:
        return make_console(stderr=False, no_color=self.no_color)

    @property
    def err_console(self) -> Console:
        return make_console(stderr=True, no_color=self.no_color)


def make_console(*, stderr: bool, no_color: bool = False) -> Console:
    no_color = no_color or "NO_COLOR" in os.environ
    return Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=True)


def default_inventory() -> Path:
    env = os.environ.get("ORCH_INVENTORY")
    return Path(env) if env else DEFAULT_INVENTORY


def require_hosts(inventory: Inventory) -> None:
    """An inventory without hosts is an input error, not "no hosts match the filters"."""
    if not inventory.hosts:
        raise InventoryError(
            f"{inventory.directory / 'hosts.yaml'}: no hosts defined",
            hint="add at least one host; inventories/example shows the layout",
        )


def no_match(**filters: str | list[str] | None) -> InputError:
    """ "no hosts match --site hq --platform windows": the filters, as the user typed them."""
    given = " ".join(
        f"--{name} {v}"
        for name, value in filters.items()
        for v in (value if isinstance(value, list) else [value])
        if v
    )
    return InputError(
        f"no hosts match {given}", hint="see `orch inventory show` with the same filters"
    )


def chosen_format(opts: GlobalOptions, given: str | None, formats: tuple[str, ...]) -> str:
    """The --format of a command (else the global one, else "table"), checked."""
    fmt = given or opts.output_format or "table"
    if fmt not in formats:
        raise InputError(f"--format {fmt!r}: choose one of {', '.join(formats)}")
    return fmt


def selected_hosts(
    opts: GlobalOptions,
    *,
    site: str | None,
    host: list[str] | None,
    platform: str | None,
    group: str | None,
) -> tuple[Inventory, list[Host]]:
    """The inventory (secrets resolved) and the hosts the filters select; none is an error."""
    inventory = load_inventory(inventory_or_packaged_lab(opts.inventory))
    require_hosts(inventory)
    hosts = inventory.select(site=site, hosts=host or None, platform=platform, group=group)
    if not hosts:
        raise no_match(site=site, host=host, platform=platform, group=group)
    return inventory, list(hosts)


def fleet_progress(console: Console) -> Progress:
    """The progress bar of a run over many devices: on a terminal only, gone when done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def options(ctx: typer.Context) -> GlobalOptions:
    """The global options of this invocation (set by the root callback)."""
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, GlobalOptions):
        return obj
    return GlobalOptions(default_inventory(), None, 0, False)


# Options shared by the commands that work on a selection of hosts (push, verify), so
# that their names, help and behaviour cannot drift apart.
SiteOption = Annotated[str | None, typer.Option("--site", help="Only hosts of this site.")]
HostOption = Annotated[
    list[str] | None, typer.Option("--host", help="Only this host (repeatable).")
]
PlatformOption = Annotated[
    str | None, typer.Option("--platform", help="Only hosts of this platform.")
]
GroupOption = Annotated[str | None, typer.Option("--group", help="Only hosts in this group.")]
AcceptNewHostKeysOption = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-keys",
        help="Trust and record unknown SSH host keys (first contact). Changed keys are "
        "always refused.",
    ),
]
