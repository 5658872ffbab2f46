"""Device backups on disk: one directory per run under the data directory's `backups/`.

    backups/<run-id>/<host>.json      what the device had before the run changed it

A backup is written atomically (a temporary file in the same directory, fsync, rename,
fsync of the directory) and read back before the device is touched: a push never
changes a device whose backup is not complete on disk. Files are readable by their
owner only (a backup may hold key material).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.drivers.base import Backup
from orchestrator.errors import DeviceError, InputError

PROBE_BYTES = 4096  # one block: a directory that cannot take it cannot take a backup


class BackupError(DeviceError):
    """One device's backup could not be written; the device was not touched."""


class DataDirError(InputError):
    """The backups directory cannot be written at all (full, read-only, not ours)."""


@dataclass(frozen=True)
class RunBackups:
    """The backups one run left: host name -> backup file."""

    run_id: str
    path: Path
    hosts: dict[str, Path]


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _hint(directory: Path) -> str:
    return f"orch keeps its data in {directory.parent}: free space there or set ORCH_DATA_DIR"


def check_writable(directory: Path, run_id: str) -> Path:
    """Create the run's directory and prove it takes a block of data (written, synced,
    removed); DataDirError with one line otherwise. Returns the run's directory."""
    run_dir = directory / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=run_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"\0" * PROBE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        finally:
            with contextlib.suppress(OSError):
                os.unlink(probe)
    except OSError as exc:
        where = exc.filename or run_dir
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only if empty: never leave an empty run behind
        raise DataDirError(
            f"cannot write backups in {where}: {_why(exc)}; no device was touched",
            hint=_hint(directory),
        ) from None
    return run_dir


def backup_file(directory: Path, run_id: str, host: str) -> Path:
    return directory / run_id / (re.sub(r"[^\w.-]", "_", host) + ".json")


def store_backup(directory: Path, run_id: str, backup: Backup) -> Path:
    """Write the backup atomically and check it reads back whole; BackupError otherwise
    (nothing is left behind but what was there before)."""
    path = backup_file(directory, run_id, backup.host)
    text = json.dumps(asdict(backup), indent=2) + "\n"
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _sync_dir(path.parent)
        if load_backup(path) != backup:
            raise OSError(0, "the backup read back differs from what was written", str(path))
    except OSError as exc:
        raise BackupError(
            f"{backup.host}: backup not written ({exc.filename or path}: {_why(exc)}); "
            "the device was not touched"
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_backup(path: Path) -> Backup:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Backup(
        host=data["host"],
        platform=data["platform"],
        config_lines=tuple(data["config_lines"]),
        files=tuple((p, c) for p, c in data["files"]),
        extra=tuple((k, v) for k, v in data["extra"]),
    )


def list_runs(directory: Path) -> list[RunBackups]:
    """Every run that left backups, oldest first (run ids start with their UTC time)."""
    if not directory.is_dir():
        return []
    runs = []
    for run_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        hosts = _hosts_in(run_dir)
        if hosts:
            runs.append(RunBackups(run_dir.name, run_dir, hosts))
    return runs


def run_backups(directory: Path, run_id: str) -> RunBackups:
    """The backups of one run; InputError naming the known runs when there is none."""
    run_dir = directory / run_id
    if "/" in run_id or run_id in ("", ".", "..") or not run_dir.is_dir():
        known = [r.run_id for r in list_runs(directory)][-3:]
        hint = (
            f"the latest: {', '.join(known)}; see `orch push --list-runs`"
            if known
            else f"no run has backups in {directory}"
        )
        raise InputError(f"no backups of run {run_id!r}", hint=hint)
    return RunBackups(run_id, run_dir, _hosts_in(run_dir))


def _hosts_in(run_dir: Path) -> dict[str, Path]:
    hosts: dict[str, Path] = {}
    for path in sorted(run_dir.glob("*.json")):
        try:
            hosts[str(json.loads(path.read_text(encoding="utf-8"))["host"])] = path
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a backup of ours
    return hosts
