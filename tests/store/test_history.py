"""The history store on both backends (SQLite file, real PostgreSQL): round trip, queries
by time and site, retention, redaction, schema version."""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any

import pytest
from compliance.compliance_samples import chrony_state, host, ios_state
from sqlalchemy import create_engine, text

from orchestrator.compliance import evaluate
from orchestrator.errors import ConfigError
from orchestrator.models import ClientLogEntry, DeviceVerdict, Verdict
from orchestrator.store import DAY_S, HistoryStore, StoredDevice, StoredRun
from orchestrator.store.engine import StoreError
from orchestrator.store.schema import SCHEMA_VERSION
from orchestrator.store.target import resolve_target

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


def sql(db: str, query: str) -> list[Any]:
    """Rows straight from the database, past the store."""
    engine = create_engine(resolve_target(db).url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_round_trip_keeps_verdicts_checks_and_evidence(db: str) -> None:
    with HistoryStore(db) as store:
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


def test_secrets_never_reach_the_database(db: str, tmp_path: Path) -> None:
    with HistoryStore(db) as store:
        save(store, NOW)
        raw = store.latest_run()
    assert raw is not None
    text_ = next(d for d in raw.devices if d.host == "rtr1").evidence["raw"]
    assert "ntp authentication-key 1 md5 ******** 7" in text_["show running-config | include ^ntp"]
    if not db.startswith("postgresql"):
        for path in tmp_path.iterdir():  # the DB and any WAL/journal beside it
            assert KEY.encode() not in path.read_bytes()
    rows = sql(db, "SELECT reason, checks, evidence, evidence_z FROM devices")
    assert len(rows) == 3
    for reason, checks, evidence, packed in rows:  # evidence is compressed: look inside
        content = reason + checks + evidence + (zlib.decompress(packed).decode() if packed else "")
        assert KEY not in content


def test_queries_by_time_range_and_site(db: str) -> None:
    with HistoryStore(db) as store:
        for day in range(5):
            save(store, NOW + day * DAY_S, offset_ms=float(day))
        window = store.runs(since=NOW + DAY_S, until=NOW + 3 * DAY_S)
        branch = store.runs(site="branch")
        latest_hq = store.latest_run(site="hq")
        light = store.runs(full=False)
        assert store.latest_run(site="nowhere") is None
        assert store.sites() == ["branch", "hq"]
    assert [r.started_at for r in window] == [NOW + d * DAY_S for d in (1, 2, 3)]
    offsets = [next(d.offset_ms for d in r.devices if d.host == "rtr1") for r in window]
    assert offsets == [1.0, 2.0, 3.0]
    assert len(branch) == 5 and all({d.site for d in r.devices} == {"branch"} for r in branch)
    assert latest_hq is not None and latest_hq.started_at == NOW + 4 * DAY_S
    assert {d.host for d in latest_hq.devices} == {"rtr1", "sw9"}
    assert len(light) == 5 and all(
        d.evidence == {} and not d.checks for r in light for d in r.devices
    )
    full = store_rows(window[-1])
    assert store_rows(light[3]) == full and len(full) == 3


def store_rows(run: StoredRun) -> list[tuple[str, str, float | None]]:
    return [(d.host, d.verdict.value, d.offset_ms) for d in run.devices]


def test_retention_deletes_old_runs_and_their_devices(db: str) -> None:
    with HistoryStore(db) as store:
        for day in range(10):
            save(store, NOW + day * DAY_S)
        removed = store.prune(keep_days=3, now=NOW + 9 * DAY_S)
        left = store.runs()
        with pytest.raises(ConfigError):
            store.prune(keep_days=-1, now=NOW)
    assert removed == 6
    assert [r.started_at for r in left] == [NOW + d * DAY_S for d in (6, 7, 8, 9)]
    orphans = sql(db, "SELECT COUNT(*) FROM devices WHERE run_id NOT IN (SELECT id FROM runs)")
    assert orphans == [(0,)]
    assert sql(db, "SELECT COUNT(*) FROM devices") == [(12,)]


def test_retention_per_site_keeps_other_sites_and_every_sites_newest_run(db: str) -> None:
    def site_run(store: HistoryStore, site: str, at: float) -> int:
        lnx = dataclasses.replace(host(f"{site}-lnx", "linux", hostname="10.2.2.2"), site=site)
        return store.save_run(
            [evaluate(lnx, chrony_state(), None, now=at)], started_at=at, finished_at=at + 1
        )

    with HistoryStore(db) as store:
        a = [site_run(store, "a", NOW + d * DAY_S) for d in range(5)]
        b_only = site_run(store, "b", NOW)  # site b's one (and so newest) run, very old
        c = [site_run(store, "c", NOW + d * DAY_S) for d in range(5)]
        # Site a's collector prunes with --keep-days 1 at day 4: only a's old runs go.
        removed = store.prune(keep_days=1, now=NOW + 4 * DAY_S, sites=["a"])
        ids = {r.id for r in store.runs()}
        assert removed == 3 and ids == {a[3], a[4], b_only, *c}
        # A prune of every site keeps each site's newest run, however old.
        store.prune(keep_days=0, now=NOW + 100 * DAY_S)
        assert {r.id for r in store.runs()} == {a[4], b_only, c[4]}


def test_schema_version_is_recorded_and_reopen_is_idempotent(db: str) -> None:
    HistoryStore(db).close()
    with HistoryStore(db) as store:
        save(store, NOW)
        assert store.schema_state().current
    assert sql(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    engine = create_engine(resolve_target(db).url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    engine.dispose()
    with pytest.raises(ConfigError, match="newer than this orch"):
        HistoryStore(db)


def test_a_reader_does_not_create_tables_in_an_empty_database(db: str) -> None:
    with HistoryStore(db, create=False) as store:
        assert store.runs() == [] and store.latest_run() is None
    if not db.startswith("postgresql"):
        assert not Path(db).exists()
    else:
        assert sql(db, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    if not db.startswith("postgresql"):
        Path(db).touch()  # an empty file is an empty SQLite database
    with HistoryStore(db, create=False) as store:
        assert store.runs() == [] and store.latest_run() is None
        assert store.site_summaries(now=NOW) == [] and store.latest_per_site() == []
    with HistoryStore(db) as store:
        assert store.schema_state().version == SCHEMA_VERSION


def test_detail_retention_keeps_the_trend_and_drops_the_bulk(db: str) -> None:
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


def test_a_postgresql_schema_older_than_orch_needs_db_upgrade(pg_url: str) -> None:
    with HistoryStore(pg_url) as store:
        save(store, NOW)
    engine = create_engine(resolve_target(pg_url).url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs DROP COLUMN collector"))
        conn.execute(text("UPDATE schema_version SET version = 2"))
    engine.dispose()
    with pytest.raises(StoreError, match="orch db upgrade"):
        HistoryStore(pg_url)
    # What `orch db upgrade` does: it opens without upgrading, then upgrades.
    from orchestrator.store import schema
    from orchestrator.store.engine import make_engine

    engine = make_engine(resolve_target(pg_url))
    assert schema.upgrade(engine) == (2, SCHEMA_VERSION)
    engine.dispose()
    with HistoryStore(pg_url) as store:
        assert len(store.runs()) == 1


def test_light_device_is_the_same_record_as_the_dataclass_makes() -> None:
    from dataclasses import FrozenInstanceError

    from orchestrator.store.records import light_device

    fields = ("r1", "hq", "ios", Verdict.DRIFTING, "offset 250 ms", 250.0, 3, 255, "10.0.0.1")
    light = light_device(*fields)
    made = StoredDevice(*fields, (), "{}")
    assert light == made and hash(light) == hash(made) and repr(light) == repr(made)
    assert not light.complies and light.evidence == {}
    with pytest.raises(FrozenInstanceError):
        light.host = "r2"  # type: ignore[misc]
