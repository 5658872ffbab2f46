"""`orch db status` / `orch db upgrade`: the history database's schema, on either backend.

Also the one place the CLI turns `--db` (per command, else the global one, else
$ORCH_DB_URL, else the data directory) into a database target.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from orchestrator.cli.context import chosen_format, options
from orchestrator.reports.data import iso
from orchestrator.store import StoreTarget, resolve_target
from orchestrator.store.admin import db_status, upgrade_db

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="History database: a SQLite file or postgresql://user@host:port/dbname "
        "(default: the global --db, $ORCH_DB_URL, else the data directory's).",
        show_default=False,
    ),
]

db_app = typer.Typer(
    name="db",
    help="The history database: schema status and upgrades (SQLite or PostgreSQL).",
    no_args_is_help=True,
)


def chosen_db(ctx: typer.Context, given: str | None) -> StoreTarget:
    """The database of this command: its own --db, else the global one, else the default."""
    return resolve_target(given if given else options(ctx).db)


@db_app.command("status")
def status(
    ctx: typer.Context,
    db: DbOption = None,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help="table (default) or json.")
    ] = None,
) -> None:
    """Show the database, its schema version and what it holds.

    Exit 0 when the schema is current (or the database is still empty), 1 when it needs
    `orch db upgrade`, 2 when it cannot be read (a corrupted file says so).
    """
    opts = options(ctx)
    fmt = chosen_format(opts, output_format, ("table", "json"))
    found = db_status(chosen_db(ctx, db))
    if fmt == "json":
        doc = {
            "backend": found.target.backend,
            "database": found.target.display,
            "schema_version": found.version,
            "latest_version": found.latest,
            "status": found.verdict,
            "runs": found.runs,
            "sites": found.sites,
            "last_run_at": iso(found.last_run_at) if found.last_run_at is not None else None,
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        last = iso(found.last_run_at) if found.last_run_at is not None else "never"
        lines = (
            f"database        {found.target.display} ({found.target.backend})",
            f"schema version  {found.version} of {found.latest}: {found.verdict}",
            f"runs            {found.runs} from {found.sites} site(s), last {last}",
        )
        opts.console.print("\n".join(lines), markup=False)
    if 0 < found.version < found.latest:
        raise typer.Exit(1)


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, db: DbOption = None) -> None:
    """Create the history tables, or upgrade them to this orch's schema (safe to repeat).

    A SQLite history upgrades itself when opened; a shared PostgreSQL is upgraded only
    by this command, once every collector runs an orch that knows the new schema.
    """
    target = chosen_db(ctx, db)
    before, after = upgrade_db(target)
    err = options(ctx).err_console
    if before == after:
        err.print(f"{target.display}: schema version {after}, already up to date", markup=False)
    elif before == 0:
        err.print(f"{target.display}: created the history tables (version {after})", markup=False)
    else:
        err.print(f"{target.display}: upgraded schema version {before} to {after}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app)
