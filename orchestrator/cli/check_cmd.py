"""`orch check`: a monitoring plugin (Nagios, Icinga, Checkmk) over the fleet's verdicts.

Prints one status line with performance data and exits 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN, as the Monitoring Plugins development guidelines ask; every problem,
bad arguments included, is UNKNOWN (3), never a traceback.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from orchestrator import paths
from orchestrator.cli.context import options, selected_hosts
from orchestrator.cli.db_cmd import DbOption, chosen_db
from orchestrator.cli.report_cmd import parse_span
from orchestrator.errors import InputError, OrchError
from orchestrator.reports.plugin import (
    Observed,
    Result,
    Status,
    evaluate,
    latest_per_device,
    unknown,
)
from orchestrator.store import HistoryStore, StoredDevice, StoreTarget

# Accepted for the global --format: the plugin protocol has one output format.
PLUGIN_FORMATS = ("table", "plugin")


def _seconds(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().rstrip("s"))
    except ValueError:
        raise InputError(f"{option} {text!r}: expected seconds, e.g. 0.1 or 0.5s") from None
    if not value > 0:
        raise InputError(f"{option} {text!r}: must be more than 0 seconds")
    return value


def _stored(
    db: StoreTarget, *, site: str | None, hosts: list[str], max_age_s: float
) -> list[Observed]:
    if db.sqlite_path is not None and not db.sqlite_path.exists():
        return []
    now = time.time()
    with HistoryStore(db, create=False) as store:
        # Runs of the last two max-ages give each device's latest verdict; when there are
        # none, the latest run (then stale) still says something.
        observed = latest_per_device(store.runs(since=now - 2 * max_age_s, site=site), hosts)
        if not observed:
            latest = store.latest_run(site=site)
            observed = latest_per_device([latest] if latest else [], hosts)
    return observed


def _live(ctx: typer.Context, *, site: str | None, hosts: list[str]) -> list[Observed]:
    from orchestrator.engine.verify import verify_hosts

    inventory, selected = selected_hosts(
        options(ctx), site=site, host=hosts or None, platform=None, group=None
    )
    run = verify_hosts(
        selected, client_log_path=paths.client_log_db(), inventory_hosts=inventory.hosts
    )
    return [
        Observed(
            StoredDevice(
                host=v.host,
                site=v.site,
                platform=v.platform,
                verdict=v.verdict,
                reason=v.reason,
                offset_ms=v.offset_ms,
                stratum=v.stratum,
                reach=v.reach,
                peer=v.peer,
                checks=v.checks,
                evidence_json="{}",
            ),
            run.finished_at,
            None,
        )
        for v in run.verdicts
    ]


def check(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="Only devices of this site.")] = None,
    host: Annotated[
        list[str] | None, typer.Option("--host", help="Only this device (repeatable).")
    ] = None,
    warning: Annotated[
        str | None,
        typer.Option(
            "--warning",
            "-w",
            help="Offset (seconds) beyond which a device is WARNING. "
            "Default: the site policy's max_offset_ms.",
        ),
    ] = None,
    critical: Annotated[
        str | None,
        typer.Option(
            "--critical",
            "-c",
            help="Offset (seconds) beyond which a device is CRITICAL. Default: none (a drifting "
            "device is WARNING; unsynchronised ones are CRITICAL).",
        ),
    ] = None,
    max_age: Annotated[
        str,
        typer.Option(
            "--max-age", help="A verdict older than this is stale (WARNING): 90m, 3h, 1d."
        ),
    ] = "3h",
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Verify the devices now over SSH instead of reading the history."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Monitoring-plugin check of NTP compliance (Nagios/Icinga/Checkmk).

    One status line with performance data; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Reads the latest stored verdicts (fast), or verifies live with --live.

    Example: orch check --site hq -w 0.05 -c 0.2
    """
    hosts = list(host or [])
    scope = " ".join(
        [*([f"site {site}"] if site else []), *([f"host {', '.join(hosts)}"] if hosts else [])]
    )
    try:
        fmt = options(ctx).output_format
        if fmt is not None and fmt not in PLUGIN_FORMATS:
            raise InputError(
                f"--format {fmt!r}: orch check prints the monitoring-plugin format only",
                hint="drop --format",
            )
        warn_s = _seconds("--warning", warning)
        crit_s = _seconds("--critical", critical)
        if warn_s is not None and crit_s is not None and crit_s < warn_s:
            raise InputError(f"--critical {critical} is below --warning {warning}")
        max_age_s = parse_span(max_age, "--max-age")
        if live:
            observed = _live(ctx, site=site, hosts=hosts)
        else:
            observed = _stored(chosen_db(ctx, db), site=site, hosts=hosts, max_age_s=max_age_s)
        result = evaluate(
            observed,
            now=time.time(),
            max_age_s=max_age_s,
            warn_s=warn_s,
            crit_s=crit_s,
            scope=scope,
        )
    except OrchError as exc:
        result = unknown(str(exc))
    except (sqlite3.Error, OSError) as exc:
        result = unknown(f"cannot read the history: {exc}")
    _emit(result)


def _emit(result: Result) -> None:
    typer.echo(result.text(), nl=False)
    if result.status is not Status.OK:
        raise typer.Exit(int(result.status))


class PluginCommand(TyperCommand):
    """Bad arguments are UNKNOWN (exit 3) for a monitoring plugin, not the usual exit 2,
    which a monitoring system would read as CRITICAL."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            parsed: list[str] = super().parse_args(ctx, args)
        except Exception as exc:
            if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
                raise
            typer.echo(unknown(str(exc.format_message())).text(), nl=False)
            raise typer.Exit(int(Status.UNKNOWN)) from None
        return parsed


def register(app: typer.Typer) -> None:
    app.command("check", cls=PluginCommand)(check)
