"""The SQLite client log: workers add deltas, `orch verify` reads totals."""

from __future__ import annotations

from pathlib import Path

from orchestrator.ntp.clientlog import ClientLog, Outcome
from orchestrator.serve.clientlog_store import ClientLogStore, read_client_log, read_status


def test_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert read_client_log(tmp_path / "none.sqlite") == []
    assert not (tmp_path / "none.sqlite").exists()


def test_two_workers_deltas_add_up(tmp_path: Path) -> None:
    db = tmp_path / "clients.sqlite"
    w1, w2 = ClientLog(), ClientLog()
    w1.record("127.0.0.5", 100.0, Outcome.RESPONDED)
    w1.record("127.0.0.5", 101.0, Outcome.KOD)
    w2.record("127.0.0.5", 99.0, Outcome.DROPPED, key_id=7)
    w2.record("::1", 105.0, Outcome.RESPONDED)
    s1, s2 = ClientLogStore(db), ClientLogStore(db)
    s1.add(w1.take_deltas(), {"received": 2, "answered": 1})
    s2.add(w2.take_deltas(), {"received": 2, "answered": 1})
    # a second flush with nothing new must not double count
    s1.add(w1.take_deltas())
    w1.record("127.0.0.5", 110.0, Outcome.RESPONDED)
    s1.add(w1.take_deltas())
    s1.close()
    s2.close()

    entries = {e.address: e for e in read_client_log(db)}
    a = entries["127.0.0.5"]
    assert (a.first_seen, a.last_seen) == (99.0, 110.0)
    assert (a.requests, a.responses, a.drops, a.kods, a.key_id) == (4, 2, 1, 1, 7)
    assert entries["::1"].requests == 1
    assert [e.address for e in read_client_log(db)] == ["127.0.0.5", "::1"]  # newest first
    assert read_status(db).counters == {"received": 4, "answered": 2}


def test_worker_flush_survives_a_locked_log_and_retries(tmp_path: Path) -> None:
    import multiprocessing
    import sqlite3

    from orchestrator.ntp.server import ServerPolicy, SystemState
    from orchestrator.serve.worker import Worker

    db = tmp_path / "clients.sqlite"
    recv_end, send_end = multiprocessing.Pipe(duplex=False)
    worker = Worker([], ServerPolicy(), SystemState(), recv_end, db)
    store = ClientLogStore(db, timeout_s=0.1)
    worker.core.client_log.record("127.0.0.7", 10.0, Outcome.RESPONDED)
    worker.core.counters["received"] += 1

    locker = sqlite3.connect(db)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    worker._flush(store)  # times out quickly, keeps what it could not write
    assert worker._unwritten
    locker.rollback()
    locker.close()

    worker.core.client_log.record("127.0.0.7", 11.0, Outcome.DROPPED)
    worker._flush(store)
    store.close()
    recv_end.close()
    send_end.close()
    (entry,) = read_client_log(db)
    assert (entry.requests, entry.responses, entry.drops) == (2, 1, 1)
    assert read_status(db).counters["received"] == 1
