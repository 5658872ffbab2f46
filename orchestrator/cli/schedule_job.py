"""`orch schedule run`: the job the timer or cron line starts (and a person can run).

1. Read the secrets from the root-only environment file (cron and systemd start jobs
   with an empty environment).
2. Take a lock in the report directory (flock): a run that finds the previous one still
   going is skipped, so runs never overlap.
3. Run verify. Exit 0 (compliant) or 1 (some device not) means it ran and stored a run;
   anything else is a failed job: the reports stay as they were, the job exits with
   verify's status (the journal and `systemctl --failed` show it).
4. Write the reports, then the status file `orch-schedule-status.json` with the outcome.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.context import options
from orchestrator.cli.db_cmd import DbOption
from orchestrator.envfile import read_env_file
from orchestrator.errors import OrchError
from orchestrator.inventory import inventory_or_packaged_lab

REPORTS = (
    ("html", "ntp-report.html"),
    ("junit", "ntp-report.xml"),
    ("prometheus", "orch_ntp.prom"),
)
STATUS_FILE = "orch-schedule-status.json"
LOCK_FILE = ".orch-schedule.lock"
# compliant, or some device not: either way verify stored a run / the report was written
DONE = (0, 1)


def steps(
    inventory: Path, site: str | None, db: str | None, report_dir: Path
) -> tuple[list[str], list[list[str]]]:
    """The verify command and the report commands of one run."""
    base = [sys.executable, "-m", "orchestrator", "--inventory", str(inventory)]
    scope = ["--site", site] if site else []
    history = ["--db", db] if db else []
    verify = [*base, "verify", *scope, *history]
    reports = [
        [*base, "report", "--format", fmt, "--out", str(report_dir / name), *scope, *history]
        for fmt, name in REPORTS
    ]
    return verify, reports


@contextlib.contextmanager
def run_lock(report_dir: Path) -> Iterator[bool]:
    """True while this process holds the run lock; False when another run holds it."""
    fd = os.open(report_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def write_status(report_dir: Path, status: dict[str, Any]) -> None:
    """The outcome of the last run, replaced atomically (monitoring reads it)."""
    path = report_dir / STATUS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status, indent=2) + "\n")
    tmp.replace(path)


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def run_job(
    ctx: typer.Context,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", help="Where the reports and the status file go.")
    ],
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file", help="Root-only (0600) NAME=value file with the inventory's secrets."
        ),
    ] = None,
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    db: DbOption = None,
) -> None:
    """Run verify, then the reports: what the installed schedule runs.

    Exit status: 0 when verify ran (whatever the verdicts) and the reports were written;
    verify's or the report's own status when one of them failed, in which case the
    reports are left as they were. The outcome is also written to
    orch-schedule-status.json in --report-dir. A run that finds another one still going
    is skipped (exit 0, the status file untouched).
    """
    opts = options(ctx)
    err = opts.err_console
    environ = dict(os.environ)
    report_dir.mkdir(parents=True, exist_ok=True)
    if env_file is not None:
        try:
            environ.update(read_env_file(env_file))
        except OrchError as exc:  # the job cannot get its secrets: a failed run
            _finish(report_dir, {"started": _stamp(time.time()), "site": site}, "failed", str(exc))
            raise
    inventory = inventory_or_packaged_lab(opts.inventory).resolve()
    verify, reports = steps(inventory, site, db, report_dir)
    with run_lock(report_dir) as held:
        if not held:
            err.print(
                f"orch schedule: another run still holds {report_dir / LOCK_FILE}; "
                "this one is skipped",
                markup=False,
            )
            return
        started = time.time()
        status: dict[str, Any] = {"started": _stamp(started), "site": site}
        code = subprocess.run(verify, env=environ, check=False).returncode
        status["verify_exit"] = code
        if code not in DONE:
            _finish(report_dir, status, "failed", f"verify failed (exit {code})")
            err.print(
                f"orch schedule: verify failed (exit {code}); the reports were left as they "
                f"were; see {report_dir / STATUS_FILE}",
                markup=False,
            )
            raise typer.Exit(code)
        for argv in reports:
            code = subprocess.run(argv, env=environ, check=False).returncode
            if code not in DONE:
                out = argv[argv.index("--out") + 1]
                _finish(report_dir, status, "failed", f"report {out} failed (exit {code})")
                err.print(f"orch schedule: writing {out} failed (exit {code})", markup=False)
                raise typer.Exit(code)
        verdict = "compliant" if status["verify_exit"] == 0 else "non-compliant"
        _finish(report_dir, status, verdict, "verify ran; reports written")


def _finish(report_dir: Path, status: dict[str, Any], result: str, message: str) -> None:
    write_status(
        report_dir,
        {**status, "finished": _stamp(time.time()), "result": result, "message": message},
    )


def register(group: typer.Typer) -> None:
    group.command("run")(run_job)
