"""Data safety of the SQLite history (issue 12): a damaged file is reported as corrupted,
with what to do, in every report format, and never written into; a full or read-only
data directory ends a verify run with a one-line error (exit 2) and its results shown."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reports.report_fixtures import run_verdicts

from orchestrator.cli.app import run
from orchestrator.reports import FORMATS
from orchestrator.store import DAY_S, HistoryStore, StoreCorrupted


def history(path: Path, runs: int = 6) -> Path:
    now = time.time()
    with HistoryStore(path) as store:
        for day in range(runs):
            at = now - (runs - day) * DAY_S / 4
            store.save_run(run_verdicts(day), started_at=at, finished_at=at + 2)
    return path


def damage_table(path: Path, table: str = "devices") -> None:
    """Overwrite the header of a table's b-tree root page, as a bad disk block would."""
    conn = sqlite3.connect(path)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    offset = (root - 1) * size
    data[offset : offset + 64] = b"\x0d\xff\xff\xff" * 16
    path.write_bytes(bytes(data))


def one_line_corrupted(err: str, path: Path) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err
    assert f"{path}: the history database is corrupted" in err
    assert f"mv {path} {path}.corrupt" in err


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_damaged_history_is_reported_as_corrupted_in_every_format(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = history(tmp_path / "history.sqlite")
    damage_table(db)
    out = tmp_path / "report.out"
    assert run(["report", "--db", str(db), "--format", fmt, "--out", str(out)]) == 2
    one_line_corrupted(capsys.readouterr().err, db)
    assert not out.exists()


def test_a_damaged_history_is_never_written_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = history(tmp_path / "history.sqlite")
    damage_table(db, "runs")
    before = db.read_bytes()
    with pytest.raises(StoreCorrupted), HistoryStore(db) as store:
        store.save_run(run_verdicts(0), started_at=time.time(), finished_at=time.time())
    assert run(["db", "status", "--db", str(db)]) == 2
    one_line_corrupted(capsys.readouterr().err, db)
    assert run(["db", "upgrade", "--db", str(db)]) == 2
    one_line_corrupted(capsys.readouterr().err, db)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]  # no journal


def test_damaged_evidence_is_reported_as_corrupted_not_as_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = history(tmp_path / "history.sqlite", runs=1)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE devices SET evidence_z = X'789c00ff00ff' WHERE host = 'rtr1'")
    conn.commit()
    conn.close()
    assert run(["report", "--db", str(db), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "is corrupted (a stored row does not decode" in err and "Traceback" not in err


# ---------------------------------------------------------------- full / read-only data dir


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(directory: Path) -> Path:
    directory.mkdir()
    (directory / "defaults.yaml").write_text(
        f"port: {closed_port()}\nusername: admin\npassword: not-the-real-one\n"
        "data:\n  site: hq\n  ntp:\n    servers:\n      - address: 127.0.0.1\n"
    )
    (directory / "groups.yaml").write_text("ios:\n  platform: cisco_ios\n")
    (directory / "hosts.yaml").write_text("rtr-down:\n  hostname: 127.0.0.1\n  groups: [ios]\n")
    return directory


def _verify_in_namespace(tmp_path: Path, setup: str) -> subprocess.CompletedProcess[str]:
    """`orch verify` in a private mount namespace where `setup` made the data directory
    (holding an existing history) full or read-only."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (a private mount namespace)")
    data = tmp_path / "data"
    data.mkdir()
    history(tmp_path / "seed.sqlite", runs=2)
    inventory = _inventory(tmp_path / "inv")
    orch = (
        f"{sys.executable} -c 'from orchestrator.cli.app import main; main()' "
        f"--inventory {inventory} verify --format json --timeout 5"
    )
    script = f"set -e\n{setup}\nexec {orch}\n".format(data=data, seed=tmp_path / "seed.sqlite")
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env={**os.environ, "ORCH_DATA_DIR": str(data), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _results_kept(done: subprocess.CompletedProcess[str], why: str) -> None:
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)  # the run's results, printed in full
    assert [(d["host"], d["verdict"]) for d in doc["devices"]] == [("rtr-down", "unreachable")]
    err = done.stderr.strip()
    assert "\n" not in err and "Traceback" not in err and "internal error" not in err, err
    assert "cannot write the history database" in err and why in err, err
    assert "results (above) were NOT stored" in err


@pytest.mark.root
def test_a_full_data_directory_keeps_the_verify_results(tmp_path: Path) -> None:
    done = _verify_in_namespace(
        tmp_path,
        "mount -t tmpfs -o size=512k tmpfs {data}\n"
        "cp {seed} {data}/history.sqlite\n"
        "dd if=/dev/zero of={data}/filler bs=4k 2>/dev/null || true",
    )
    _results_kept(done, "full")


@pytest.mark.root
def test_a_read_only_data_directory_keeps_the_verify_results(tmp_path: Path) -> None:
    done = _verify_in_namespace(
        tmp_path,
        "cp {seed} {data}/history.sqlite\n"
        "mount --bind {data} {data}\nmount -o remount,bind,ro {data}",
    )
    _results_kept(done, "readonly")
