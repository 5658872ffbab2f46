"""Functions run in separate processes by the concurrency tests (spawned: importable)."""

from __future__ import annotations

import dataclasses
from typing import Any

from compliance.compliance_samples import chrony_state, host

from orchestrator.compliance import evaluate
from orchestrator.store import HistoryStore

NOW = 1_800_000_000.0


def writer(db: str, site: str, writer_id: int, runs: int, devices: int, barrier: Any) -> list[int]:
    """One collector: `runs` runs of `devices` devices of `site`, each stored and pruned
    the way `orch verify` does, all starting together with the other writers."""
    names = [f"{site}-w{writer_id}-d{i:02d}" for i in range(devices)]
    hosts = [dataclasses.replace(host(n, "linux", hostname="10.2.2.2"), site=site) for n in names]
    barrier.wait(timeout=120)
    ids = []
    for r in range(runs):
        at = NOW + r * 60.0 + writer_id
        verdicts = [evaluate(h, chrony_state(), None, now=at) for h in hosts]
        with HistoryStore(db) as store:
            ids.append(store.save_run(verdicts, started_at=at, finished_at=at + 1))
            store.prune(keep_days=30, now=at, sites=[site])
    return ids


def creator(db_template: str, rounds: int, barrier: Any) -> list[str]:
    """Open a new history database at the same moment as the other creators, `rounds`
    times (one new database per round), and store one run in it; the errors seen."""
    errors = []
    lnx = host("lnx1", "linux", hostname="10.2.2.2")
    for r in range(rounds):
        barrier.wait(timeout=120)
        try:
            with HistoryStore(db_template.format(r)) as store:
                store.save_run(
                    [evaluate(lnx, chrony_state(), None, now=NOW)],
                    started_at=NOW,
                    finished_at=NOW + 1,
                )
        except Exception as exc:  # reported to the test, which shows every one
            errors.append(f"round {r}: {type(exc).__name__}: {exc}")
    return errors
