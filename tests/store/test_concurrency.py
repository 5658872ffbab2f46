"""Many writers at once, on both backends: collectors of different sites and two runs of
one site store concurrently (nothing lost, nothing interleaved); six processes creating
a new history database at the same moment all succeed."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from orchestrator.store import HistoryStore
from store.workers import creator, writer

pytestmark = pytest.mark.slow


def _pool(workers: int) -> tuple[ProcessPoolExecutor, Any]:
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx), manager


def test_site_collectors_store_at_once_and_nothing_is_lost_or_interleaved(db: str) -> None:
    HistoryStore(db).close()  # as `orch db upgrade` would, before the collectors start
    # Sites a and b have a collector each; site a also has a second, overlapping run.
    plan = [("a", 0), ("b", 1), ("a", 2), ("c", 3)]
    runs, devices = 6, 20
    pool, manager = _pool(len(plan))
    with pool, manager:
        barrier = manager.Barrier(len(plan))
        futures = {
            (site, wid): pool.submit(writer, db, site, wid, runs, devices, barrier)
            for site, wid in plan
        }
        ids = {key: f.result(timeout=240) for key, f in futures.items()}
    with HistoryStore(db) as store:
        stored = {r.id: r for r in store.runs(full=False)}
    assert len(stored) == len(plan) * runs
    for (site, wid), run_ids in ids.items():
        assert len(set(run_ids)) == runs
        for run_id in run_ids:
            run = stored[run_id]  # every run is there, with exactly its writer's devices
            expected = {f"{site}-w{wid}-d{i:02d}" for i in range(devices)}
            assert {d.host for d in run.devices} == expected
            assert {d.site for d in run.devices} == {site}


def test_six_processes_creating_a_new_database_at_once_all_succeed(
    db: str, request: pytest.FixtureRequest
) -> None:
    if db.startswith("postgresql"):
        cluster = request.getfixturevalue("pg_cluster")
        base = db.rsplit("/", 1)[1]
        rounds = 4
        for r in range(rounds):
            cluster.create_database(f"{base}_{r}")
        template = db + "_{}"
    else:
        rounds = 10  # 60 creations: the race hit 2 of 60 before
        template = db.replace("history.sqlite", "new-{}.sqlite")
    pool, manager = _pool(6)
    with pool, manager:
        barrier = manager.Barrier(6)
        futures = [pool.submit(creator, template, rounds, barrier) for _ in range(6)]
        errors = [e for f in futures for e in f.result(timeout=240)]
    assert errors == []
    for r in range(rounds):
        with HistoryStore(template.format(r)) as store:
            assert len(store.runs()) == 6
