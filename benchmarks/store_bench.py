"""Benchmark: a shared history of many sites, on SQLite and on PostgreSQL.

Stores S sites x D devices x R hourly runs (real-format IOS states judged by the
evaluator, 1 in 20 devices drifting), then times what a site collector and a central
report do:
  - storing one D-device run the way `orch verify` does (open, save, prune, read back);
  - `orch report --format json` and `--format html` for the latest run of every site,
    and for 7 days of one site;
and prints the database size. Targets (issue 16): a 50-device run stored in <= 0.5 s,
a report across 5,000 devices in <= 3 s, the HTML under 10 MB. Ratio printed against a
peer: the same rows dumped by Python's json.dumps (the floor any report pays).

    python benchmarks/store_bench.py [--sites 100] [--devices 50] [--runs 24]
                                     [--backend sqlite|postgresql|both]

PostgreSQL: a throw-away cluster (initdb + pg_ctl in a temporary directory, loopback
only), as the tests start it; skipped with a note when the server binaries are missing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from compliance.compliance_samples import host, ios_state
from store.pg_server import PgCluster, PgUnavailable

from orchestrator.cli.app import run as orch
from orchestrator.compliance import evaluate
from orchestrator.models import DeviceVerdict
from orchestrator.store import HistoryStore

HOUR_S = 3600.0


@dataclasses.dataclass(frozen=True)
class Shape:
    sites: int
    devices: int
    runs: int
    names: list[str]
    bulk_s: float  # time to store all but the last hour


def run_templates(devices: int, runs: int, start: float) -> list[list[DeviceVerdict]]:
    """One list of judged devices per run index; sites reuse them under their names."""
    out = []
    for r in range(runs):
        at = start + r * HOUR_S
        hosts = [host(f"rtr{i:03d}", hostname=f"10.{i // 250}.{i % 250}.1") for i in range(devices)]
        out.append(
            [
                evaluate(
                    h,
                    dataclasses.replace(
                        ios_state(offset_ms=250.0 if i % 20 == 7 else (i % 9) * 1.3 - 4),
                        host=h.name,
                    ),
                    None,
                    now=at,
                )
                for i, h in enumerate(hosts)
            ]
        )
    return out


def for_site(template: list[DeviceVerdict], site: str) -> list[DeviceVerdict]:
    return [dataclasses.replace(v, host=f"{site}-{v.host}", site=site) for v in template]


@contextlib.contextmanager
def backend(name: str) -> Iterator[tuple[str, object]]:
    if name == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="orch-store-bench-"))
        try:
            yield str(directory / "history.sqlite"), None
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    with PgCluster.start() as pg:
        os.environ["PGPASSWORD"] = pg.password
        yield pg.create_database("bench"), pg


def db_size(db: str, pg: object) -> float:
    if isinstance(pg, PgCluster):
        return float(pg.psql("SELECT pg_database_size('bench')").strip())
    return float(Path(db).stat().st_size)


def timed_cli(args: list[str], out: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    code = orch([*args, "--out", str(out)])
    took = time.perf_counter() - t0
    if code not in (0, 1):
        raise SystemExit(f"orch {' '.join(args)} failed with exit {code}")
    return took, out.stat().st_size / 1e6


def bench(name: str, sites: int, devices: int, runs: int) -> None:
    start = time.time() - runs * HOUR_S
    templates = run_templates(devices, runs, start)
    names = [f"site{s:03d}" for s in range(sites)]
    with backend(name) as (db, pg):
        # The bulk of the history, as the collectors would have written it over a day.
        t0 = time.perf_counter()
        with HistoryStore(db) as store:
            for r in range(runs - 1):
                at = start + r * HOUR_S
                for s, site in enumerate(names):
                    store.save_run(
                        for_site(templates[r], site), started_at=at + s, finished_at=at + s + 20
                    )
        bulk_s = time.perf_counter() - t0
        if isinstance(pg, PgCluster):  # what autovacuum does to a history filled over a day
            pg.psql("VACUUM ANALYZE", "bench")
        # The last hour: each site's collector stores its run as `orch verify` does.
        per_run = []
        for s, site in enumerate(names):
            at = start + (runs - 1) * HOUR_S + s
            t0 = time.perf_counter()
            with HistoryStore(db) as store:
                run_id = store.save_run(
                    for_site(templates[-1], site),
                    started_at=at,
                    finished_at=at + 20,
                    site_filter=site,
                )
                store.prune(keep_days=90, now=at, detail_days=7, sites=[site])
                store.get_run(run_id)
            per_run.append(time.perf_counter() - t0)
        size_mb = db_size(db, pg) / 1e6
        out = Path(tempfile.mkdtemp(prefix="orch-store-bench-out-"))
        try:
            shape = Shape(sites, devices, runs, names, bulk_s)
            report(db, out, name, shape, per_run, size_mb)
        finally:
            shutil.rmtree(out, ignore_errors=True)


def report(
    db: str, out: Path, name: str, shape: Shape, per_run: list[float], size_mb: float
) -> None:
    sites, devices, runs = shape.sites, shape.devices, shape.runs
    names = shape.names
    rows = sites * devices
    print(
        f"{name}: {sites} sites x {devices} devices x {runs} runs "
        f"({sites * runs} runs, {rows * runs} device rows), {size_mb:.1f} MB"
    )
    p95 = sorted(per_run)[int(0.95 * (len(per_run) - 1))]
    print(
        f"  store a {devices}-device run (open, save, prune, read back): "
        f"median {statistics.median(per_run):.3f} s, p95 {p95:.3f} s (target <= 0.5 s); "
        f"bulk fill {shape.bulk_s / max(1, sites * (runs - 1)) * 1000:.0f} ms/run"
    )
    with HistoryStore(db) as store:  # the floor: the latest rows, json.dumps'ed
        latest = store.latest_per_site()
    t0 = time.perf_counter()
    json.dumps([dataclasses.asdict(d) for r in latest for d in r.devices], default=str)
    floor_s = time.perf_counter() - t0
    for label, extra in (
        (f"latest run of all {sites} sites ({rows} devices)", []),
        (f"7 days of one site ({devices} devices, {runs} runs)", ["--site", names[0]]),
    ):
        for fmt in ("json", "html"):
            took, mb = timed_cli(
                ["--db", db, "report", "--since", "7d", "--format", fmt, *extra],
                out / f"report.{fmt}",
            )
            target = " (target <= 3 s" + (", < 10 MB)" if fmt == "html" else ")")
            print(
                f"  report {fmt:<4} {label}: {took:6.2f} s {mb:6.2f} MB"
                f"{target if not extra else ''}; ratio to json.dumps of the latest rows "
                f"{took / floor_s:5.1f}x"
            )


def main() -> None:
    # A kill ends the run through the context managers: the PostgreSQL cluster stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    for name in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        try:
            bench(name, args.sites, args.devices, args.runs)
        except PgUnavailable as exc:
            print(f"{name}: skipped ({exc})")


if __name__ == "__main__":
    main()
