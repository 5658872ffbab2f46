"""A history written by the release before the store interface (schema 2, committed as
tests/store/fixtures/history-release.sqlite, made by make_release_fixture.py at e768690)
upgrades in place without losing a run; `orch db status` / `orch db upgrade` say so."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.models import Verdict
from orchestrator.store import HistoryStore
from orchestrator.store.schema import SCHEMA_VERSION

RELEASE = Path(__file__).parent / "fixtures" / "history-release.sqlite"
START = 1_800_000_000.0


@pytest.fixture()
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "history.sqlite"
    shutil.copy(RELEASE, db)
    return db


def rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT run_id, host, site, verdict, offset_ms, evidence_z FROM devices"
            " ORDER BY run_id, host"
        ).fetchall()
    finally:
        conn.close()


def test_db_status_then_upgrade_keeps_every_run(
    old_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = rows(old_db)
    assert len(before) == 9
    assert run(["db", "status", "--db", str(old_db), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["schema_version"], doc["latest_version"], doc["runs"]) == (2, SCHEMA_VERSION, 3)
    assert doc["status"] == "needs `orch db upgrade`" and doc["sites"] == 2
    assert run(["--db", str(old_db), "db", "upgrade"]) == 0
    assert f"upgraded schema version 2 to {SCHEMA_VERSION}" in capsys.readouterr().err
    assert rows(old_db) == before
    assert run(["db", "status", "--db", str(old_db)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_opening_an_old_history_upgrades_it_and_reads_every_run(old_db: Path) -> None:
    with HistoryStore(old_db) as store:
        runs = store.runs()
        assert store.schema_state().version == SCHEMA_VERSION
    assert [r.started_at for r in runs] == [START, START + 86400, START + 2 * 86400]
    rtr = [next(d for d in r.devices if d.host == "rtr1") for r in runs]
    assert [d.offset_ms for d in rtr] == [-0.5, 0.5, 1.5]
    assert all(d.verdict is Verdict.COMPLIANT and d.evidence["raw"] for d in rtr)
    assert {d.verdict for r in runs for d in r.devices if d.host == "sw9"} == {Verdict.UNREACHABLE}
    assert runs[0].unknown_clients[0].address == "10.66.0.7"


def test_report_on_an_old_history_is_the_same_after_the_upgrade(
    old_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", "--db", str(old_db), "--format", "csv", "--since", "1000w"]
    assert run(args) == 1
    first = capsys.readouterr().out
    assert run(args) == 1
    assert capsys.readouterr().out == first
    assert len(first.splitlines()) == 1 + 9


def test_a_version_1_history_is_upgraded_too(tmp_path: Path) -> None:
    db = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(db)  # the first release's tables, as it created them
    conn.executescript(
        """
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (1);
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL,
            finished_at REAL NOT NULL, site_filter TEXT, host_filter TEXT NOT NULL DEFAULT '[]',
            total INTEGER NOT NULL, compliant INTEGER NOT NULL, noncompliant INTEGER NOT NULL,
            counts TEXT NOT NULL, unknown_clients TEXT NOT NULL DEFAULT '[]');
        CREATE TABLE devices (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            host TEXT NOT NULL, site TEXT NOT NULL, platform TEXT NOT NULL,
            verdict TEXT NOT NULL, reason TEXT NOT NULL, offset_ms REAL, stratum INTEGER,
            reach INTEGER, peer TEXT, checks TEXT NOT NULL, evidence TEXT NOT NULL,
            PRIMARY KEY (run_id, host));
        INSERT INTO runs (id, started_at, finished_at, total, compliant, noncompliant, counts)
            VALUES (1, 1800000000, 1800000001, 1, 1, 0, '{}');
        INSERT INTO devices VALUES (1, 'rtr1', 'hq', 'cisco_ios', 'compliant', 'ok', 0.5, 2,
            255, '10.10.10.1', '[]', '{"raw": {"show ntp status": "Clock is synchronized"}}');
        """
    )
    conn.close()
    with HistoryStore(db) as store:
        (run_,) = store.runs()
    assert run_.devices[0].evidence["raw"]["show ntp status"] == "Clock is synchronized"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
