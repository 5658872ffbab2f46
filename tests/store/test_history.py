"""The SQLite history: round trip, queries by time and site, retention, redaction, schema."""

from __future__ import annotations

import dataclasses
import sqlite3
import zlib
from pathlib import Path

import pytest
from compliance.compliance_samples import chrony_state, host, ios_state

from orchestrator.compliance import evaluate
from orchestrator.errors import ConfigError
from orchestrator.models import ClientLogEntry, DeviceVerdict, Verdict
from orchestrator.store import DAY_S, HistoryStore, StoredRun
from orchestrator.store.schema import MIGRATIONS, SCHEMA_VERSION

NOW = 1_800_000_000.0
KEY = "Zq8uSecretNtpKey"


def verdicts(offset_ms: float = -0.5) -> list[DeviceVerdict]:
    rtr = host("rtr1")
    state = ios_state(offset_ms=offset_ms)
    # Real IOS running-config lines carry key material; it must never reach the DB.
    raw = dict(state.raw)
    raw["show running-config | include ^ntp"] += f"\nntp authentication-key 1 md5 {KEY} 7"
    state = dataclasses.replace(state, raw=tuple(raw.items()))
    lnx = dataclasses.replace(host("lnx1", "linux", hostname="10.2.2.2"), site="branch")
    return [
        evaluate(rtr, state, None, now=NOW),
        evaluate(lnx, chrony_state(), None, now=NOW),
        evaluate(host("sw9"), None, None, now=NOW, connection_error="timed out after 10 s"),
    ]


def save(store: HistoryStore, at: float, offset_ms: float = -0.5) -> int:
    return store.save_run(
        verdicts(offset_ms),
        started_at=at,
        finished_at=at + 3,
        site_filter=None,
        host_filter=("rtr1",),
        unknown_clients=[ClientLogEntry("10.66.0.7", at - 60, at - 5, 4, 4, 0, 0, None)],
    )


def test_round_trip_keeps_verdicts_checks_and_evidence(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite") as store:
        run_id = save(store, NOW)
        run = store.latest_run()
    assert isinstance(run, StoredRun) and run.id == run_id
    assert (run.started_at, run.finished_at, run.host_filter) == (NOW, NOW + 3, ("rtr1",))
    by_host = {d.host: d for d in run.devices}
    rtr = by_host["rtr1"]
    assert rtr.verdict is Verdict.COMPLIANT and rtr.peer == "10.10.10.1"
    assert (rtr.offset_ms, rtr.stratum, rtr.reach) == (-0.5, 2, 0o377)
    assert any(c.name == "offset" and c.expected == "|offset| <= 100 ms" for c in rtr.checks)
    evidence = rtr.evidence
    assert "*~10.10.10.1" in evidence["raw"]["show ntp associations"]
    assert evidence["associations"][0]["selected"] is True
    assert by_host["sw9"].verdict is Verdict.UNREACHABLE and by_host["sw9"].evidence == {}
    assert run.counts["compliant"] == 2 and run.counts["unreachable"] == 1
    assert run.unknown_clients[0].address == "10.66.0.7"


def test_secrets_never_reach_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    with HistoryStore(db) as store:
        save(store, NOW)
        raw = store.latest_run()
    assert raw is not None
    text = next(d for d in raw.devices if d.host == "rtr1").evidence["raw"]
    assert "ntp authentication-key 1 md5 ******** 7" in text["show running-config | include ^ntp"]
    for path in tmp_path.iterdir():  # the DB and any WAL/journal beside it
        assert KEY.encode() not in path.read_bytes()
    conn = sqlite3.connect(db)  # evidence is compressed: look inside every row too
    rows = conn.execute("SELECT reason, checks, evidence, evidence_z FROM devices").fetchall()
    conn.close()
    for reason, checks, evidence, packed in rows:
        text = reason + checks + evidence + (zlib.decompress(packed).decode() if packed else "")
        assert KEY not in text


def test_queries_by_time_range_and_site(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite") as store:
        for day in range(5):
            save(store, NOW + day * DAY_S, offset_ms=float(day))
        window = store.runs(since=NOW + DAY_S, until=NOW + 3 * DAY_S)
        branch = store.runs(site="branch")
        latest_hq = store.latest_run(site="hq")
        assert store.latest_run(site="nowhere") is None
    assert [r.started_at for r in window] == [NOW + d * DAY_S for d in (1, 2, 3)]
    assert [next(d.offset_ms for d in r.devices if d.host == "rtr1") for r in window] == [
        1.0,
        2.0,
        3.0,
    ]
    assert len(branch) == 5 and all({d.site for d in r.devices} == {"branch"} for r in branch)
    assert latest_hq is not None and latest_hq.started_at == NOW + 4 * DAY_S
    assert {d.host for d in latest_hq.devices} == {"rtr1", "sw9"}


def test_retention_deletes_old_runs_and_their_devices(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    with HistoryStore(db) as store:
        for day in range(10):
            save(store, NOW + day * DAY_S)
        removed = store.prune(keep_days=3, now=NOW + 9 * DAY_S)
        left = store.runs()
        with pytest.raises(ConfigError):
            store.prune(keep_days=-1, now=NOW)
    assert removed == 6
    assert [r.started_at for r in left] == [NOW + d * DAY_S for d in (6, 7, 8, 9)]
    conn = sqlite3.connect(db)
    (orphans,) = conn.execute(
        "SELECT COUNT(*) FROM devices WHERE run_id NOT IN (SELECT id FROM runs)"
    ).fetchone()
    conn.close()
    assert orphans == 0


def test_schema_version_is_recorded_and_reopen_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    HistoryStore(db).close()
    with HistoryStore(db) as store:
        save(store, NOW)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="newer than this orch"):
        HistoryStore(db)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not sqlite\n" * 100)
    with pytest.raises(ConfigError, match="cannot open the history database"):
        HistoryStore(bogus)


def test_detail_retention_keeps_the_trend_and_drops_the_bulk(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    with HistoryStore(db) as store:
        for day in range(4):
            save(store, NOW + day * DAY_S, offset_ms=float(day))
        store.prune(keep_days=30, now=NOW + 3 * DAY_S, detail_days=1.5)
        runs = store.runs()
    assert len(runs) == 4
    old, new = runs[0], runs[-1]
    old_rtr = next(d for d in old.devices if d.host == "rtr1")
    assert old_rtr.offset_ms == 0.0 and old_rtr.verdict is Verdict.COMPLIANT  # the trend
    assert old_rtr.evidence == {} and old_rtr.checks == ()  # the bulk
    old_sw9 = next(d for d in old.devices if d.host == "sw9")
    assert old_sw9.checks and "timed out" in old_sw9.reason  # failures keep their checks
    new_rtr = next(d for d in new.devices if d.host == "rtr1")
    assert new_rtr.evidence["raw"] and new_rtr.checks


def test_version_1_databases_are_migrated_and_still_read(tmp_path: Path) -> None:
    db = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0])
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute(
        "INSERT INTO runs (id, started_at, finished_at, total, compliant, noncompliant, counts)"
        " VALUES (1, ?, ?, 1, 1, 0, '{}')",
        (NOW, NOW + 1),
    )
    conn.execute(
        "INSERT INTO devices VALUES (1, 'rtr1', 'hq', 'cisco_ios', 'compliant', 'ok', 0.5, 2,"
        " 255, '10.10.10.1', '[]', ?)",
        ('{"raw": {"show ntp status": "Clock is synchronized"}}',),
    )
    conn.commit()
    conn.close()
    with HistoryStore(db) as store:
        (run,) = store.runs()
        save(store, NOW + 60)
        assert len(store.runs()) == 2
    assert run.devices[0].evidence["raw"]["show ntp status"] == "Clock is synchronized"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
