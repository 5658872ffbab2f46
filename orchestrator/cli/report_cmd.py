"""`orch report`: compliance report from the stored history."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.context import chosen_format, options
from orchestrator.cli.db_cmd import DbOption, chosen_db
from orchestrator.errors import InputError
from orchestrator.reports import FORMATS, ReportInput, build_input, build_table, render
from orchestrator.reports.data import Scope
from orchestrator.reports.site_overview import site_table
from orchestrator.store import HistoryStore, StoreTarget, combine_latest

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_span(text: str, option: str = "--since") -> float:
    """'7d', '12h', '30m', '90s', '2w' -> seconds."""
    match = _SPAN.match(text)
    if not match:
        raise InputError(
            f"{option} {text!r}: expected a number and a unit s, m, h, d or w (e.g. 7d, 12h)"
        )
    seconds = float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    if seconds <= 0:
        raise InputError(f"{option} {text!r}: must be longer than zero (e.g. 7d, 12h)")
    return seconds


def write_atomically(path: Path, text: str) -> None:
    """Readers (node_exporter, a web server) never see a half-written file."""
    if path.is_dir():
        raise InputError(f"--out {path}: is a directory", hint="give a file name in it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # name the file the user gave, not our temporary one
        raise InputError(
            f"--out {path}: cannot write there ({exc.strerror or exc})",
            hint="choose a writable directory",
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a quota: again name the user's file
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def report(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="History window: 7d, 12h, 30m, 2w...")
    ] = "7d",
    site: Annotated[
        str | None,
        typer.Option("--site", help="Only devices of this site (default: every site stored)."),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)} (default table)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report to this file (atomically).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Compliance report from the stored history.

    Without --site it covers every site in the database: each site's latest run, and a
    per-site summary (devices, compliant, worst verdict, last run, stale sites). Exit
    status 1 when any device of the latest run(s) is not compliant.
    """
    opts = options(ctx)
    fmt = chosen_format(opts, output_format, FORMATS)
    if out is None and fmt == "html" and stdout_is_terminal():
        # A whole page of markup is of no use on a terminal; a pipe or redirect still gets it.
        raise InputError(
            "--format html on a terminal: give --out FILE",
            hint="or redirect: orch report --format html > report.html",
        )
    window_s = parse_span(since)
    # The HTML renderer's matplotlib takes ~1 s to import: do it while the history is
    # read (the database work mostly waits on I/O or runs in C without the GIL).
    preload = _preload("orchestrator.reports.html") if fmt == "html" else None
    target = chosen_db(ctx, db)
    if db and target.sqlite_path is not None and not target.sqlite_path.exists():
        raise InputError(f"--db {db}: no such file", hint="run 'orch verify --db ...' first")
    now = time.time()
    filters = (("since", since), *((("site", site),) if site else ()))
    scope = Scope(inventory=str(opts.inventory), database=target.display, filters=filters)
    with collector_paused():
        data = read_report(target, since=now - window_s, site=site, now=now, scope=scope)
        if preload is not None:
            preload.join()
        text = render(fmt, data) if out is not None or fmt != "table" else None

    if out is not None:
        assert text is not None
        write_atomically(out, text)
        opts.err_console.print(f"wrote {fmt} report to {out}", markup=False)
    elif text is None:
        opts.console.print(build_table(data))
    else:
        typer.echo(text, nl=False)
    if fmt == "table" and out is None and len(data.sites) > 1:
        opts.console.print(site_table(data.sites, now=now))
    if data.latest.noncompliant:
        raise typer.Exit(1)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a report is read and rendered: it makes
    100,000s of objects (history rows, points, JSON dicts) and no cycles to speak of,
    and each full collection would walk all of them again (a third of the CPU time of
    a report across 5,000 devices). Reference counting still frees what goes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _preload(module: str) -> threading.Thread:
    def load() -> None:
        # An import that fails here fails again, with its message, where it is used.
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name=f"preload {module}", daemon=True)
    thread.start()
    return thread


def read_report(
    target: StoreTarget,
    *,
    since: float,
    site: str | None,
    now: float,
    scope: Scope | None = None,
) -> ReportInput:
    """The report's input from the history: the runs of the window (without their raw
    evidence), the latest run of the site, or of every site combined, in full, and the
    summary of every site in the database."""
    # Never create an empty database just to report that it is empty.
    with HistoryStore(target, create=False) as store:
        history = store.runs(since=since, site=site, full=False)
        if site is not None:
            latest = store.get_run(history[-1].id, site=site) if history else None
            sites = [s for s in store.site_summaries(now=now, since=since) if s.site == site]
        else:
            latest = combine_latest(store.latest_per_site(since=since))
            sites = store.site_summaries(now=now, since=since)
    return build_input(
        history,
        generated_at=now,
        since=since,
        site=site,
        db=target.display,
        latest=latest,
        sites=sites,
        scope=scope,
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
