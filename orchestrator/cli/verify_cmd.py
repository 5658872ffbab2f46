"""`orch verify`: collect, parse and judge each device's synchronisation; store the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from orchestrator import paths
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
from orchestrator.cli.db_cmd import DbOption, chosen_db
from orchestrator.engine.verify import store_run, verify_hosts
from orchestrator.errors import InputError
from orchestrator.models import DeviceVerdict
from orchestrator.notify import Targets, load_targets, notify_run
from orchestrator.reports import build_input, build_table, render
from orchestrator.store import HistoryStore, StoreError, host_secrets, unsaved_run

FORMATS = ("table", "json")
DEFAULT_KEEP_DAYS = 90.0
DEFAULT_KEEP_EVIDENCE_DAYS = 7.0

KeepDays = Annotated[
    float,
    typer.Option(
        "--keep-days",
        envvar="ORCH_KEEP_DAYS",
        min=0.0,
        help="Delete stored runs older than this many days.",
    ),
]
KeepEvidenceDays = Annotated[
    float,
    typer.Option(
        "--keep-evidence-days",
        envvar="ORCH_KEEP_EVIDENCE_DAYS",
        min=0.0,
        help="Drop raw outputs (and all-passed checks) from runs older than this; verdicts "
        "and offsets stay for the trend.",
    ),
]


def verify(
    ctx: typer.Context,
    site: SiteOption = None,
    host: HostOption = None,
    platform: PlatformOption = None,
    group: GroupOption = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0.0,
            help="Re-poll non-compliant devices for up to this many seconds (use after a push).",
        ),
    ] = 0.0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.1, help="Seconds between re-polls.")
    ] = 5.0,
    db: DbOption = None,
    client_log: Annotated[
        Path | None,
        typer.Option(
            "--client-log",
            help="Our NTP server's client log (default: the data directory's; skipped if absent).",
        ),
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help="table (default) or json.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=1000, help="Devices collected at once.")
    ] = 50,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds allowed per device.")
    ] = 30.0,
    accept_new_host_keys: AcceptNewHostKeysOption = False,
    keep_days: KeepDays = DEFAULT_KEEP_DAYS,
    keep_evidence_days: KeepEvidenceDays = DEFAULT_KEEP_EVIDENCE_DAYS,
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config",
            envvar="ORCH_NOTIFY_CONFIG",
            help="TOML file with webhook/command targets for verdict-change alerts (the "
            "inventory's data.notify_webhook / data.notify_command are used too).",
        ),
    ] = None,
) -> None:
    """Collect, parse and judge each device's synchronisation; store the run.

    One verdict per device, with the reason to act on. Exit 1 if any is not compliant.
    """
    opts = options(ctx)
    fmt = chosen_format(opts, output_format, FORMATS)
    inventory, hosts = selected_hosts(opts, site=site, host=host, platform=platform, group=group)
    log_path = client_log or paths.client_log_db()
    db_path = chosen_db(ctx, db)
    # Open the history first: a bad or corrupted --db must fail before minutes of
    # collection, not after.
    with HistoryStore(db_path) as store:
        store.check_intact()
    if client_log is not None and not client_log.exists():
        raise InputError(f"--client-log {client_log}: no such file")
    notify_targets = load_targets(notify_config) if notify_config is not None else Targets()

    err = opts.err_console
    with fleet_progress(err) as progress:
        task = progress.add_task("verifying", total=len(hosts))
        done: set[str] = set()

        def advance(verdict: DeviceVerdict) -> None:
            # Re-polls while waiting judge a device again; the bar counts devices.
            if verdict.host not in done:
                done.add(verdict.host)
                progress.advance(task)
            elif not verdict.complies:
                progress.update(task, description=f"waiting for {verdict.host}")

        run = verify_hosts(
            hosts,
            workers=workers,
            timeout_s=timeout,
            client_log_path=log_path,
            wait_s=wait,
            poll_interval_s=poll_interval,
            on_done=advance,
            inventory_hosts=inventory.hosts,
            accept_new_host_keys=accept_new_host_keys,
            locks_dir=paths.locks_dir(),
        )

    not_stored: StoreError | None = None
    try:
        stored = store_run(
            db_path,
            run,
            hosts,
            site_filter=site,
            host_filter=host or (),
            keep_days=keep_days,
            keep_evidence_days=keep_evidence_days,
        )
    except StoreError as exc:  # disk full, read-only: the results are shown, not lost
        not_stored = exc
        stored = unsaved_run(
            run.verdicts,
            started_at=run.started_at,
            finished_at=run.finished_at,
            site_filter=site,
            host_filter=host or (),
            unknown_clients=run.unknown_clients,
            secrets={h.name: host_secrets(h) for h in hosts},
        )
    data = build_input([stored], generated_at=time.time(), site=site)
    # Alerts on change: a failing target is a warning, never the run's result.
    _changes, notify_failures = notify_run(
        db_path,
        stored,
        hosts,
        extra=notify_targets,
        ledger_path=paths.data_dir() / "notify-sent.json",
    )
    for failure in notify_failures:
        err.print(f"warning: notification not delivered: {failure}", markup=False)

    if fmt == "json":
        typer.echo(render("json", data), nl=False)
    else:
        opts.console.print(build_table(data))
        if not run.client_log_available:
            err.print(
                f"note: no client log at {log_path}: the check that devices really poll our "
                "server was skipped (run `orch server run`, or pass --client-log)",
                markup=False,
            )
        if wait > 0:
            state = "all compliant" if run.all_compliant else f"{len(run.noncompliant)} not"
            err.print(
                f"{run.rounds} collection round(s) within --wait {wait:g} s: {state}",
                markup=False,
            )
        if not_stored is None:
            err.print(f"run {stored.id} stored in {db_path}", markup=False)
    if not_stored is not None:
        raise StoreError(
            f"{not_stored.message}: this run's results (above) were NOT stored",
            hint=not_stored.hint,
        )
    if not run.all_compliant:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
