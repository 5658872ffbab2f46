"""Benchmark: history and reports at fleet scale.

Stores R runs of N devices (real-format IOS states judged by the evaluator) in a
SQLite history, then times the query and every report format, and prints a ratio
against a peer: Python's own `json.dumps` of the same rows (the floor any renderer
pays to emit them).

    python benchmarks/verify_report_bench.py [--devices 1000] [--runs 24]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from compliance.compliance_samples import host, ios_state

from orchestrator.compliance import evaluate
from orchestrator.reports import FORMATS, build_input, render
from orchestrator.store import HistoryStore

HOUR_S = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=24)
    args = parser.parse_args()

    db = Path(tempfile.mkdtemp(prefix="orch-report-bench-")) / "history.sqlite"
    hosts = [
        host(f"rtr{i:04d}", hostname=f"10.{i // 250}.{i % 250}.1") for i in range(args.devices)
    ]
    start = time.time() - args.runs * HOUR_S
    t0 = time.perf_counter()
    with HistoryStore(db) as store:
        for r in range(args.runs):
            at = start + r * HOUR_S
            verdicts = [
                evaluate(
                    h,
                    dataclasses.replace(ios_state(offset_ms=(i % 50) * 3.1 - 40 + r), host=h.name),
                    None,
                    now=at,
                )
                for i, h in enumerate(hosts)
            ]
            store.save_run(verdicts, started_at=at, finished_at=at + 20)
    store_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with HistoryStore(db) as store:
        runs = store.runs(since=start - 1)
    query_s = time.perf_counter() - t0
    data = build_input(runs, generated_at=time.time(), since=start - 1)

    print(f"history: {args.runs} runs x {args.devices} devices, {db.stat().st_size / 1e6:.1f} MB")
    print(
        f"  store {store_s:.2f} s ({store_s / args.runs * 1000:.0f} ms/run), query {query_s:.2f} s"
    )
    rows = [dataclasses.asdict(d) for run in runs for d in run.devices]
    t0 = time.perf_counter()
    json.dumps(rows, default=str)
    floor_s = time.perf_counter() - t0
    for fmt in FORMATS:
        t0 = time.perf_counter()
        text = render(fmt, data)
        took = time.perf_counter() - t0
        print(
            f"  {fmt:<10} {took:7.2f} s  {len(text) / 1e6:6.2f} MB  "
            f"ratio to json.dumps of the rows: {took / floor_s:6.1f}x"
        )


if __name__ == "__main__":
    main()
