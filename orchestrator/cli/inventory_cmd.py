"""`orch inventory`: check, show and import inventories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from orchestrator.cli.context import options, require_hosts
from orchestrator.errors import InputError, InventoryError
from orchestrator.inventory import inventory_or_packaged_lab, load_inventory
from orchestrator.inventory.ansible import import_ansible
from orchestrator.inventory.view import inventory_record, masked, unset_variables
from orchestrator.models import Host, NtpServerSpec

group = typer.Typer(help="Check, show and import inventories.", no_args_is_help=True)
import_group = typer.Typer(help="Convert another tool's inventory into orch's layout.")
group.add_typer(import_group, name="import")

FORMATS = ("table", "json")


def _directory(ctx: typer.Context, given: Path | None) -> Path:
    return given if given is not None else inventory_or_packaged_lab(options(ctx).inventory)


@group.command("check")
def check(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Inventory directory (default: the global --inventory).", show_default=False
        ),
    ] = None,
    resolve_secrets: Annotated[
        bool,
        typer.Option(
            "--resolve-secrets",
            help="Also resolve every ${env:...} / ${keyring:...} secret; fail if one is missing.",
        ),
    ] = False,
) -> None:
    """Validate an inventory: a one-line summary, or one line per problem (file:line), exit 2."""
    opts = options(ctx)
    path = _directory(ctx, directory)
    inventory = load_inventory(path, resolve_secrets=resolve_secrets)
    require_hosts(inventory)
    sites = inventory.sites()
    opts.console.print(
        f"{path}: OK, {_count(len(inventory.hosts), 'host')}, {_count(len(sites), 'site')} "
        f"({', '.join(sites)})",
        markup=False,
    )
    unset = unset_variables(inventory)
    if unset:
        opts.err_console.print(
            f"note: {', '.join(unset)} not set; push and verify will need "
            f"{'it' if len(unset) == 1 else 'them'}",
            markup=False,
        )


@group.command("show")
def show(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="Only hosts of this site.")] = None,
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", metavar="NAME", help="Only this host (repeatable)."),
    ] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="Only this platform.")] = None,
    group_name: Annotated[
        str | None, typer.Option("--group", help="Only members of this group.")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help="table or json (default: table).")
    ] = None,
) -> None:
    """Show the resolved hosts (after inheritance); secrets are masked."""
    opts = options(ctx)
    fmt = output_format or opts.output_format or "table"
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not offered here (expected one of table, json)")
    inventory = load_inventory(_directory(ctx, None), resolve_secrets=False)
    chosen = inventory.select(site=site, hosts=hosts, platform=platform, group=group_name)
    if fmt == "json":
        record = inventory_record(inventory, chosen)
        opts.console.out(json.dumps(record, indent=2), highlight=False)
        return
    console = opts.console
    console.print(_table(chosen, f"{inventory.directory}: {len(chosen)} hosts", console.width))


# Left out, in this order, when the terminal is too narrow for every column (rather
# than folding addresses and server lists mid-word).
_OPTIONAL_COLUMNS = ("Policy", "Login")
_CAPTIONS = {
    "NTP servers": "servers: * prefer, k key id",
    "Policy": "policy: max |offset|, max stratum, min reach of 8",
}


def _table(hosts: tuple[Host, ...], title: str, width: int) -> Table:
    rows = [_row(host) for host in hosts]
    for dropped in range(len(_OPTIONAL_COLUMNS) + 1):
        shown = [c for c in _ROW_COLUMNS if c not in _OPTIONAL_COLUMNS[:dropped]]
        # widest line of each column, its padding (2) and rule (1), and the closing rule
        if 1 + sum(_widest(c, rows) + 3 for c in shown) <= width:
            break
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        caption="; ".join(text for column, text in _CAPTIONS.items() if column in shown),
        caption_justify="left",
    )
    for column in shown:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Plain Text, never markup: "[fd00::10]:22" would otherwise vanish as a tag.
        table.add_row(*(Text(row[column]) for column in shown))
    return table


_ROW_COLUMNS = ("Host", "Site", "Platform", "Address", "Login", "NTP servers", "Policy")


def _row(host: Host) -> dict[str, str]:
    limits = host.desired.thresholds
    address = f"[{host.hostname}]" if ":" in host.hostname else host.hostname
    return {
        "Host": host.name,
        "Site": host.site,
        "Platform": host.platform,
        "Address": f"{address}:{host.port}"
        + ("\nlegacy SSH algorithms" if host.ssh_legacy_algorithms else ""),
        "Login": f"{host.username} {masked(host.password) or 'no password'}",
        "NTP servers": "\n".join(_server(s) for s in host.desired.servers),
        "Policy": f"{limits.max_offset_ms:g}ms st{limits.max_stratum} r{limits.min_reach}",
    }


def _widest(column: str, rows: list[dict[str, str]]) -> int:
    lines = [column, *(line for row in rows for line in row[column].splitlines())]
    return max(cell_len(line) for line in lines)


def _server(server: NtpServerSpec) -> str:
    key = f" k{server.key_id}" if server.key_id is not None else ""
    port = f":{server.port}" if server.port != 123 else ""
    return f"{server.address}{port}{key}{'*' if server.prefer else ''}"


@import_group.command("ansible")
def import_ansible_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Ansible inventory, YAML or INI.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Directory to write (default: ./inventories/<file name>)."
        ),
    ] = None,
    ntp_servers: Annotated[
        list[str] | None,
        typer.Option(
            "--ntp-server", help="NTP server the hosts should use (repeatable; required)."
        ),
    ] = None,
    site: Annotated[
        str, typer.Option("--site", help="Site for hosts without an orch_site/site variable.")
    ] = "main",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Convert an Ansible inventory into hosts.yaml, groups.yaml and defaults.yaml."""
    opts = options(ctx)
    target = out if out is not None else Path("inventories") / file.stem
    servers = list(ntp_servers or [])
    repeated = sorted({s for s in servers if servers.count(s) > 1})
    if repeated:
        raise InputError(f"--ntp-server {repeated[0]} is given more than once")
    result = import_ansible(file, target, ntp_servers=servers, site=site, force=force)
    for warning in result.warnings:
        opts.err_console.print(f"warning: {warning}", markup=False)
    try:
        inventory = load_inventory(target, resolve_secrets=False)  # what we wrote must load
    except InventoryError as exc:
        # The files stay: what is missing (a login name...) was not in the Ansible
        # inventory, so the user has to add it; say so instead of a bare problem list.
        raise InventoryError(
            f"{exc}\n{target}: imported, but the files need the edits above before use "
            f"(then run: orch inventory check {target})"
        ) from None
    opts.console.print(
        f"{target}: wrote {len(result.files)} files: {_count(result.hosts, 'host')}, "
        f"{_count(result.groups, 'group')}, {_count(len(inventory.sites()), 'site')}",
        markup=False,
    )
    unset = unset_variables(inventory)
    if unset:
        opts.console.print(f"next: export {', '.join(unset)}", markup=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="inventory")
