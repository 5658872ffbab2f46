"""The root `orch` command: global options, sub-command registration, exit codes.

Exit codes are decided here and only here:
  0 all good, 1 some device non-compliant or failed, 2 usage or input error,
  3 internal error.
"""

from __future__ import annotations

import errno
import logging
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
import typer.main
from rich.console import Console

from orchestrator import __version__, paths
from orchestrator.cli import (
    check_cmd,
    db_cmd,
    demo_cmd,
    helptext,
    inventory_cmd,
    lab_cmd,
    parse_cmd,
    push_cmd,
    report_cmd,
    schedule_cmd,
    server_cmd,
    verify_cmd,
)
from orchestrator.cli.context import GlobalOptions, default_inventory, make_console
from orchestrator.errors import OrchError
from orchestrator.redact import LogRedactor

EXIT_OK = 0
EXIT_NONCOMPLIANT = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3

app = typer.Typer(
    name="orch",
    help="Keep a site's routers, switches, Linux and Windows hosts on one NTP time source, "
    "and prove it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"orch {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory",
            "-i",
            help="Inventory directory (hosts.yaml, groups.yaml, defaults.yaml). "
            "Default: $ORCH_INVENTORY, else ./inventories/lab, else the lab inventory "
            "shipped with orch.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Default output format for commands that offer one (table, json, ...).",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="History database: a SQLite file or postgresql://user@host:port/dbname "
            "(password from PGPASSWORD, ~/.pgpass or ${env:NAME}). Default: $ORCH_DB_URL, "
            "else history.sqlite in the data directory ($ORCH_DATA_DIR).",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
    ] = 0,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours in output (NO_COLOR is honoured too).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(
        inventory=inventory if inventory is not None else default_inventory(),
        output_format=output_format,
        verbose=verbose,
        no_color=no_color,
        db=db,
    )
    _configure_logging(verbose, no_color)


def _configure_logging(verbose: int, no_color: bool) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(
        console=make_console(stderr=True, no_color=no_color),
        show_path=False,
        rich_tracebacks=False,
    )
    # every record, whichever library logs it (netmiko logs what it sends at DEBUG), is
    # redacted before it is shown: known secrets and NTP key lines in all their forms
    handler.addFilter(LogRedactor())
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    # Third-party libraries are chatty at INFO; keep them at WARNING unless -vv.
    for noisy in ("paramiko", "asyncssh", "netmiko", "napalm"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    # SQLAlchemy logs every statement and its parameters (whole runs of evidence) at -vv;
    # database errors reach us as exceptions, so its log stays at warnings.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    # paramiko's transport thread logs at ERROR (even whole tracebacks) when a session
    # closes ("Socket exception: Bad file descriptor"); real failures reach us as
    # exceptions anyway, so its own log is only for -vv.
    if verbose < 2:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)


for _module in (
    inventory_cmd,
    server_cmd,
    lab_cmd,
    parse_cmd,
    push_cmd,
    verify_cmd,
    report_cmd,
    check_cmd,
    schedule_cmd,
    db_cmd,
    demo_cmd,
):
    _module.register(app)


def run(argv: Sequence[str] | None = None) -> int:
    """Run `orch` with `argv` and return the exit code; never raises, never tracebacks.

    Used by the console script and by tests (so tests see the real exit-code mapping).
    """
    err = make_console(stderr=True)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = typer.main.get_command(app)
        helptext.tidy(command)
        # Not standalone: usage errors come here as exceptions (one line below, not
        # typer's boxed panel); typer.Exit comes back as the return value.
        code = command.main(args=args, prog_name="orch", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return EXIT_OK
        return code if isinstance(code, int) else EXIT_INPUT
    except OrchError as exc:
        err.print(f"orch: error: {shorten(str(exc))}", markup=False)
        return exc.exit_code
    except typer.TyperException as exc:  # click's usage errors (bad option, value, command)
        message = " ".join(exc.format_message().split())
        if message:  # "" when a group without a command printed its help
            err.print(f"orch: error: {shorten(message)}{_help_hint(exc)}", markup=False)
        return exc.exit_code
    except typer.Abort:
        err.print("orch: aborted", markup=False)
        return EXIT_NONCOMPLIANT
    except KeyboardInterrupt:
        err.print("orch: interrupted")
        return 130
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a bug of ours
            return _internal_error(err, exc, args)
        # A path given on the command line (or derived from one) cannot be read or
        # written: the user can act on that, so it is an input error, not a crash.
        why = exc.strerror or str(exc)
        if exc.errno == errno.EEXIST and Path(str(exc.filename)).is_file():
            why = "is a file, where a directory is needed"  # mkdir over a file
        where = shorten(f"{exc.filename}: {why}")
        err.print(f"orch: error: {where}{_data_dir_hint(exc.filename)}", markup=False)
        return EXIT_INPUT
    except Exception as exc:  # the one place an unexpected error becomes exit 3
        return _internal_error(err, exc, args)
    return EXIT_OK


def shorten(text: str, limit: int = 200) -> str:
    """`text` with any value longer than `limit` characters cut (a 10 MB hostname is
    named, not echoed), and the whole kept to a screenful."""

    def cut(match: re.Match[str]) -> str:
        value = match[0]
        return f"{value[: limit // 2]}...({len(value)} characters)"

    text = re.sub(rf"\S{{{limit + 1},}}", cut, text)
    return text if len(text) <= 20 * limit else text[: 20 * limit] + "...(cut)"


def _help_hint(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f" (see `{path} --help`)" if path else ""


def _data_dir_hint(filename: object) -> str:
    """Point at ORCH_DATA_DIR when the path is orch's own data directory (or on its way)."""
    data = paths.data_dir().absolute()
    failed = Path(str(filename)).absolute()
    if failed == data or failed in data.parents or data in failed.parents:
        return f" (orch keeps its data in {data}: set ORCH_DATA_DIR to a writable directory)"
    return ""


def _internal_error(err: Console, exc: Exception, args: list[str]) -> int:
    err.print(
        f"orch: internal error: {type(exc).__name__}: {shorten(str(exc))} "
        "(run with -vv for a traceback, and please report it)",
        markup=False,
    )
    if _verbosity(args) >= 2:
        traceback.print_exception(exc)
    return EXIT_INTERNAL


def _verbosity(args: list[str]) -> int:
    """How many -v the user gave (-vv, -v -v, --verbose --verbose), before any `--`."""
    count = 0
    for arg in args:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-v") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count


def main() -> None:
    sys.exit(run())
