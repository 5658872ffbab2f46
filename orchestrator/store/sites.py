"""Per-site summaries across a shared history: pure functions of rows the store reads.

A site's schedule is not configured anywhere the store can see, so it is read from the
history itself: the median gap between the site's recent runs. A site is stale when its
last run is older than twice that.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.models import ClientLogEntry, Verdict
from orchestrator.store.records import StoredRun

# Least to most severe. A verdict this list does not name ranks just above compliant.
SEVERITY: tuple[str, ...] = (
    Verdict.COMPLIANT.value,
    Verdict.DRIFTING.value,
    Verdict.SYNCED_ELSEWHERE.value,
    Verdict.MISCONFIGURED.value,
    Verdict.BLOCKED.value,
    Verdict.UNREACHABLE.value,
    Verdict.UNSYNCHRONISED.value,
)
STALE_FACTOR = 2.0
SCHEDULE_SAMPLE_RUNS = 10  # the gaps between this many recent runs give the schedule


def severity(verdict: str) -> int:
    return SEVERITY.index(verdict) if verdict in SEVERITY else 1


def worst_verdict(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=severity, default=Verdict.COMPLIANT.value)


@dataclass(frozen=True)
class TrendPoint:
    time: float  # the run's start
    devices: int
    compliant: int


@dataclass(frozen=True)
class SiteSummary:
    site: str
    devices: int  # in the site's last run
    compliant: int
    worst: str  # the most severe verdict of the last run
    last_run_id: int
    last_run_at: float
    schedule_s: float | None  # inferred from the history; None: fewer than 2 runs
    stale: bool  # last run older than STALE_FACTOR x schedule
    counts: Mapping[str, int] = field(default_factory=dict)
    trend: tuple[TrendPoint, ...] = ()  # runs in the report window, oldest first

    @property
    def noncompliant(self) -> int:
        return self.devices - self.compliant


@dataclass(frozen=True)
class SiteRunRow:
    """One site's share of one run: how many devices per verdict."""

    run_id: int
    started_at: float
    site: str
    verdict: str
    count: int


def inferred_schedule(times: Sequence[float]) -> float | None:
    """The median gap between consecutive run times (any order); None for fewer than 2."""
    ordered = sorted(set(times))[-(SCHEDULE_SAMPLE_RUNS + 1) :]
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b > a]
    return statistics.median(gaps) if gaps else None


def summarise(
    rows: Iterable[SiteRunRow],
    *,
    now: float,
    schedule_times: Mapping[str, Sequence[float]],
) -> list[SiteSummary]:
    """One summary per site in `rows`, by site name. `rows` must hold each site's last
    run; `schedule_times` gives each site's recent run times for its schedule."""
    per_run: dict[str, dict[tuple[float, int], dict[str, int]]] = {}
    for row in rows:
        counts = per_run.setdefault(row.site, {}).setdefault((row.started_at, row.run_id), {})
        counts[row.verdict] = counts.get(row.verdict, 0) + row.count
    out = []
    for site in sorted(per_run):
        runs = sorted(per_run[site].items())
        (last_at, last_id), last = runs[-1]
        schedule = inferred_schedule(schedule_times.get(site, [t for (t, _), _ in runs]))
        total = sum(last.values())
        ok = last.get(Verdict.COMPLIANT.value, 0)
        out.append(
            SiteSummary(
                site=site,
                devices=total,
                compliant=ok,
                worst=worst_verdict(v for v, n in last.items() if n),
                last_run_id=last_id,
                last_run_at=last_at,
                schedule_s=schedule,
                stale=schedule is not None and now - last_at > STALE_FACTOR * schedule,
                counts=dict(sorted(last.items())),
                trend=tuple(
                    TrendPoint(t, sum(c.values()), c.get(Verdict.COMPLIANT.value, 0))
                    for (t, _), c in runs
                ),
            )
        )
    return out


def combine_latest(latest: Sequence[StoredRun]) -> StoredRun | None:
    """Each site's last run (already narrowed to that site) as one run for the report:
    every site's devices, stamped with the newest run's id and times."""
    if not latest:
        return None
    newest = max(latest, key=lambda r: (r.started_at, r.id))
    if len(latest) == 1:
        return newest
    clients: dict[str, ClientLogEntry] = {}
    for run in latest:
        for entry in run.unknown_clients:
            clients.setdefault(entry.address, entry)
    return StoredRun(
        id=newest.id,
        started_at=newest.started_at,
        finished_at=newest.finished_at,
        site_filter=None,
        host_filter=(),
        devices=tuple(d for run in sorted(latest, key=lambda r: r.sites) for d in run.devices),
        unknown_clients=tuple(clients[a] for a in sorted(clients)),
    )
