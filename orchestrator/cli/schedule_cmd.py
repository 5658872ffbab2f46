"""`orch schedule`: run verify and then report on a schedule (systemd timer, else cron).

`install` writes `orch-verify.service` + `orch-verify.timer` into a systemd unit
directory (and enables the timer when that directory is the system's or the user's
own), or, where systemd is absent, one marked crontab line. `remove` undoes it.
Tests point --unit-dir / --crontab-file at temporary paths, so nothing real changes.

Both run `orch schedule run` (see schedule_job): it reads the job's secrets from a
root-only environment file, holds a lock so that runs never overlap, runs verify and,
only when verify ran, the reports, and records the outcome in a status file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli import schedule_job
from orchestrator.cli.context import GlobalOptions, options
from orchestrator.cli.report_cmd import parse_span
from orchestrator.envfile import check_private, create_env_file, read_env_file
from orchestrator.errors import ConfigError, InputError
from orchestrator.inventory import inventory_or_packaged_lab, load_inventory
from orchestrator.inventory.secrets import path_references
from orchestrator.inventory.yamlfile import load_yaml
from orchestrator.store.target import scheduled_db

group = typer.Typer(
    help="Run verify and report on a schedule (systemd timer or cron).", no_args_is_help=True
)

UNIT = "orch-verify"
CRON_MARK = f"# orch-schedule:{UNIT}"
METHODS = ("auto", "systemd", "cron")


@dataclass(frozen=True)
class Job:
    """What the scheduler starts: `orch schedule run` with everything it needs."""

    every_s: float
    inventory: Path
    site: str | None
    report_dir: Path
    db: str | None  # a SQLite file (absolute) or a postgresql:// URL without a password
    data_dir: str | None  # ORCH_DATA_DIR to carry into the job's environment
    env_file: Path

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "orchestrator", "--inventory", str(self.inventory)]
        argv += ["schedule", "run", "--report-dir", str(self.report_dir)]
        argv += ["--env-file", str(self.env_file)]
        argv += ["--site", self.site] if self.site else []
        argv += ["--db", str(self.db)] if self.db else []
        return argv


# --------------------------------------------------------------------------- rendering


def systemd_span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _systemd_quote(arg: str, *, exec_line: bool = True) -> str:
    """One word of a unit file line. systemd expands `%` specifiers everywhere and
    `$NAME`/`${NAME}` in Exec lines: both are doubled, so that a path with `%` or a
    `--db postgresql://...${env:PGPASS}...` reaches the job as written."""
    arg = arg.replace("%", "%%")
    if exec_line:
        arg = arg.replace("$", "$$")
    if re.fullmatch(r"[\w@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_service(job: Job) -> str:
    lines = [
        "# Written by `orch schedule install`; undo with `orch schedule remove`.",
        "[Unit]",
        "Description=orch: verify NTP compliance and write the reports",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
    ]
    if job.data_dir:
        lines.append(
            f"Environment={_systemd_quote('ORCH_DATA_DIR=' + job.data_dir, exec_line=False)}"
        )
    # no '-': a verify that cannot run fails the unit (journal, `systemctl --failed`)
    lines.append(f"ExecStart={' '.join(_systemd_quote(a) for a in job.command())}")
    return "\n".join(lines) + "\n"


def render_timer(job: Job) -> str:
    span = systemd_span(job.every_s)
    return (
        "# Written by `orch schedule install`; undo with `orch schedule remove`.\n"
        "[Unit]\n"
        f"Description=Run {UNIT}.service every {span}\n\n"
        "[Timer]\n"
        "OnBootSec=5min\n"
        f"OnUnitActiveSec={span}\n"
        f"Unit={UNIT}.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def cron_schedule(seconds: float) -> str:
    minutes = seconds / 60
    if minutes.is_integer() and 1 <= minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{int(minutes)} * * * *"
    hours = seconds / 3600
    if hours.is_integer() and 1 <= hours < 24 and 24 % hours == 0:
        return "0 * * * *" if hours == 1 else f"0 */{int(hours)} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    raise InputError(
        f"--every {systemd_span(seconds)}: cron can only repeat at divisors of an hour or a "
        "day (e.g. 15m, 1h, 6h, 1d); pick one of those or use systemd"
    )


def render_cron_line(job: Job) -> str:
    env = f"ORCH_DATA_DIR={shlex.quote(job.data_dir)} " if job.data_dir else ""
    # cron treats % as a newline; escape it. Output goes to the report dir's log.
    command = (env + " ".join(shlex.quote(a) for a in job.command())).replace("%", "\\%")
    log = shlex.quote(str(job.report_dir / "orch-schedule.log"))
    return f"{cron_schedule(job.every_s)} {command} >>{log} 2>&1 {CRON_MARK}"


# --------------------------------------------------------------------------- where


def default_unit_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/etc/systemd/system")
    return Path.home() / ".config" / "systemd" / "user"


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def choose_method(method: str, unit_dir: Path | None, crontab_file: Path | None) -> str:
    if method not in METHODS:
        raise InputError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    if unit_dir is not None or systemd_running():
        return "systemd"
    if crontab_file is not None or shutil.which("crontab"):
        return "cron"
    raise ConfigError(
        "neither systemd nor cron is available here",
        hint="pass --unit-dir DIR to write the unit files anyway",
    )


def _systemctl(*args: str) -> None:
    user = [] if os.geteuid() == 0 else ["--user"]
    result = subprocess.run(
        ["systemctl", *user, *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ConfigError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")


def _read_crontab(crontab_file: Path | None) -> str:
    if crontab_file is not None:
        return crontab_file.read_text() if crontab_file.exists() else ""
    result = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    return result.stdout if result.returncode == 0 else ""  # 1: no crontab yet


def _write_crontab(text: str, crontab_file: Path | None) -> None:
    if crontab_file is not None:
        crontab_file.parent.mkdir(parents=True, exist_ok=True)
        crontab_file.write_text(text)
        return
    result = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"crontab - failed: {result.stderr.strip()}")


def _without_ours(crontab: str) -> list[str]:
    return [line for line in crontab.splitlines() if not line.rstrip().endswith(CRON_MARK)]


# --------------------------------------------------------------------------- commands

UnitDir = Annotated[
    Path | None,
    typer.Option(
        "--unit-dir",
        help="Write the systemd units here (default: /etc/systemd/system as root, else "
        "~/.config/systemd/user; only the default is enabled with systemctl).",
    ),
]
CrontabFile = Annotated[
    Path | None,
    typer.Option("--crontab-file", help="Edit this file instead of the user's crontab."),
]
Method = Annotated[str, typer.Option("--method", help="auto (default), systemd or cron.")]


EnvFile = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="Root-only (0600) file NAME=value with the secrets the inventory references "
        "as ${env:NAME}. Default: /etc/orch/schedule.env as root, else "
        "~/.config/orch/schedule.env.",
    ),
]


def default_env_file() -> Path:
    if os.geteuid() == 0:
        return Path("/etc/orch/schedule.env")
    return Path.home() / ".config" / "orch" / "schedule.env"


def _secret_names(inventory_dir: Path) -> dict[str, bool]:
    """The environment variables the inventory's values reference (${env:NAME}): name ->
    whether it is needed (some reference has no default)."""
    names: dict[str, bool] = {}

    def walk(value: object) -> None:
        if isinstance(value, str):
            for ref in path_references(value):
                names[ref.name] = names.get(ref.name, False) or ref.default is None
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted(inventory_dir.iterdir()):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            walk(load_yaml(path).data)
    return names


def _check_creatable(directory: Path, option: str) -> None:
    """InputError unless `directory` exists or can be made (without making it)."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK) or _pseudo_fs(probe):
        raise InputError(f"{option} {directory}: cannot create it under {probe}")


def _pseudo_fs(path: Path) -> bool:
    # root passes access(2) on /proc and /sys, where nothing can be created
    return path.resolve().parts[1:2] in (("proc",), ("sys",))


@group.command("install")
def install(
    ctx: typer.Context,
    every: Annotated[str, typer.Option("--every", help="How often: 15m, 1h, 1d...")] = "1h",
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", help="Where reports go (default: <data dir>/reports)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="History database: a SQLite file or postgresql://user@host:port/dbname "
            "(password from ~/.pgpass, PGPASSWORD or ${env:NAME}; default: the global --db).",
        ),
    ] = None,
    env_file: EnvFile = None,
    unit_dir: UnitDir = None,
    crontab_file: CrontabFile = None,
    method: Method = "auto",
) -> None:
    """Write a systemd service + timer (or a crontab line) that runs `orch schedule run`.

    Cron and systemd start the job with an empty environment, so the secrets the
    inventory references as ${env:NAME} go into a root-only environment file (--env-file,
    mode 0600). If it does not exist yet it is created with the values those variables
    have now; unset ones are left as commented placeholders to fill in. An existing file
    is checked (owner, mode) and kept as it is.
    """
    from orchestrator import paths

    opts: GlobalOptions = options(ctx)
    every_s = parse_span(every, "--every")
    if every_s < 60:
        raise InputError(f"--every {every}: at least 1m, a verify run takes a while")
    history = scheduled_db(db or opts.db)
    # What the job will need must work now, not fail every hour in a journal nobody reads:
    # the inventory loads (secrets come from the environment file), the site exists, the
    # report directory can be created. Nothing is created before all of that is checked.
    inventory = load_inventory(inventory_or_packaged_lab(opts.inventory), resolve_secrets=False)
    if site is not None:
        inventory.select(site=site)
    reports = (report_dir or paths.data_dir() / "reports").resolve()
    secrets = (env_file or default_env_file()).absolute()
    job = Job(
        every_s=every_s,
        inventory=inventory.directory.resolve(),
        site=site,
        report_dir=reports,
        db=history,
        data_dir=os.environ.get("ORCH_DATA_DIR"),
        env_file=secrets,
    )
    chosen = choose_method(method, unit_dir, crontab_file)
    line = render_cron_line(job) if chosen == "cron" else ""
    _check_creatable(reports, "--report-dir")
    if secrets.exists():
        check_private(secrets)
    else:
        _check_creatable(secrets.parent, "--env-file")
    out = opts.console

    reports.mkdir(parents=True, exist_ok=True)
    _set_up_env_file(secrets, _secret_names(inventory.directory), opts)
    if chosen == "cron":
        _write_crontab(
            "\n".join([*_without_ours(_read_crontab(crontab_file)), line]) + "\n", crontab_file
        )
        out.print(f"crontab: {line}", markup=False)
        return
    target = unit_dir or default_unit_dir()
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{UNIT}.service").write_text(render_service(job))
    (target / f"{UNIT}.timer").write_text(render_timer(job))
    out.print(f"wrote {target / UNIT}.service and .timer (every {systemd_span(every_s)})")
    if unit_dir is None and systemd_running():
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", f"{UNIT}.timer")
        out.print(f"enabled {UNIT}.timer")
    else:
        out.print(f"enable it with: systemctl daemon-reload && systemctl enable --now {UNIT}.timer")


def _set_up_env_file(path: Path, names: dict[str, bool], opts: GlobalOptions) -> None:
    err = opts.err_console
    if path.exists():
        missing = [n for n in names if n not in read_env_file(path)]
        kept = f"kept {path}"
    else:
        header = (
            "Secrets for the scheduled `orch schedule run` (written by `orch schedule install`).\n"
            "NAME=value lines; keep this file mode 0600, owned by the user the job runs as."
        )
        _, missing = create_env_file(path, names, os.environ, header)
        kept = f"wrote {path} (mode 0600)"
    opts.console.print(f"secrets: {kept}", markup=False)
    missing = [n for n in missing if names[n]]  # the others have a default
    if missing:
        err.print(
            f"note: {', '.join(missing)} not set in {path}: add NAME=value lines before the "
            "first run",
            markup=False,
        )


@group.command("remove")
def remove(
    ctx: typer.Context,
    unit_dir: UnitDir = None,
    crontab_file: CrontabFile = None,
    method: Method = "auto",
) -> None:
    """Undo `orch schedule install`."""
    out = options(ctx).console
    if choose_method(method, unit_dir, crontab_file) == "cron":
        current = _read_crontab(crontab_file)
        kept = _without_ours(current)
        if len(kept) == len(current.splitlines()):
            out.print("no orch schedule in the crontab")
            return
        _write_crontab("\n".join(kept) + ("\n" if kept else ""), crontab_file)
        out.print("removed the orch line from the crontab")
        return
    target = unit_dir or default_unit_dir()
    files = [target / f"{UNIT}.timer", target / f"{UNIT}.service"]
    if not any(f.exists() for f in files):
        out.print(f"no orch schedule in {target}")
        return
    if unit_dir is None and systemd_running():
        _systemctl("disable", "--now", f"{UNIT}.timer")
    for f in files:
        f.unlink(missing_ok=True)
    if unit_dir is None and systemd_running():
        _systemctl("daemon-reload")
    out.print(f"removed {UNIT}.service and {UNIT}.timer from {target}")


def register(app: typer.Typer) -> None:
    schedule_job.register(group)
    app.add_typer(group, name="schedule")
