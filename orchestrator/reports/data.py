"""The one input every renderer takes: the latest run plus the history around it."""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from orchestrator.errors import InputError
from orchestrator.models import Check, Verdict
from orchestrator.store.records import StoredDevice, StoredRun
from orchestrator.store.sites import SiteSummary

# The policy a device was judged against, read back from its stored checks' `expected`
# (compliance.rules): "|offset| <= 100 ms", "stratum <= 15", ">= 4 of the last 8 polls".
_OFFSET_LIMIT = re.compile(r"<=\s*([0-9.]+)\s*ms")
_POLICY = {
    "offset": ("max_offset_ms", _OFFSET_LIMIT, float),
    "stratum": ("max_stratum", re.compile(r"stratum\s*<=\s*(\d+)"), int),
    "reach": ("min_reach", re.compile(r">=\s*(\d+)\s+of the last 8"), int),
}


class NoRunsError(InputError):
    """Nothing stored to report on."""


class SeriesPoint(NamedTuple):
    """One run's point of a host's series (a tuple: a history makes 100,000s of them)."""

    time: float  # Unix time of the run
    offset_ms: float | None
    verdict: str


@dataclass(frozen=True)
class Scope:
    """What the report covers, for its header: where the data came from and the filters."""

    inventory: str | None = None
    database: str | None = None
    filters: tuple[tuple[str, str], ...] = ()  # ("site", "hq"), ("since", "7d") ...


@dataclass(frozen=True)
class Change:
    """A device's verdict against the previous run that judged it."""

    previous: str | None  # None: first seen in this window
    current: str
    previous_run: int | None

    @property
    def changed(self) -> bool:
        return self.previous is not None and self.previous != self.current


@dataclass(frozen=True)
class ReportInput:
    latest: StoredRun
    history: tuple[StoredRun, ...]  # oldest first; ends with `latest`
    generated_at: float
    since: float | None = None
    site: str | None = None
    sites: tuple[SiteSummary, ...] = ()  # every site's summary (store.site_summaries)
    scope: Scope = Scope()

    def change(self, host: str) -> Change:
        """The host's verdict in the latest run against the run before that judged it."""
        return self._changes.get(host, Change(None, "", None))

    @cached_property
    def _changes(self) -> dict[str, Change]:
        # The latest run of each site is what the report shows for that site (across
        # sites, every site's own latest run): a device's previous verdict comes from the
        # last earlier run of the history that judged it. One pass, oldest first.
        site_latest: dict[str, int] = {}
        for run in self.history:
            for site in {p.site for p in run.devices}:
                site_latest[site] = run.id
        before: dict[str, tuple[int, Verdict]] = {}
        for run in self.history:
            run_id = run.id
            for p in run.devices:
                if site_latest.get(p.site) != run_id:
                    before[p.host] = (run_id, p.verdict)
        changes: dict[str, Change] = {}
        for d in self.latest.devices:
            found = before.get(d.host)
            changes[d.host] = (
                Change(found[1].value, d.verdict.value, found[0])
                if found
                else Change(None, d.verdict.value, None)
            )
        return changes

    @cached_property
    def policy(self) -> dict[str, dict[str, float | int]]:
        """Thresholds in force per site, as the latest run's checks state them."""
        out: dict[str, dict[str, float | int]] = {}
        for d in self.latest.devices:
            out.setdefault(d.site, {}).update(policy_of(d))
        return dict(sorted(out.items()))

    def series(self, host: str) -> tuple[SeriesPoint, ...]:
        """The host's offset over the history, one point per run that judged it."""
        return self._series.get(host, ())

    def series_of(self, hosts: Iterable[str]) -> dict[str, tuple[SeriesPoint, ...]]:
        """`series` of a few hosts (the HTML's detailed devices), without making the
        points of every other host of the history."""
        if "_series" in self.__dict__:
            return {h: self.series(h) for h in hosts}
        return self._points(set(hosts))

    @cached_property
    def _series(self) -> dict[str, tuple[SeriesPoint, ...]]:
        return self._points(None)

    def _points(self, wanted: set[str] | None) -> dict[str, tuple[SeriesPoint, ...]]:
        # One pass over the history, not one per host (1000 hosts x 24 runs x 1000 rows).
        points: dict[str, list[SeriesPoint]] = {h: [] for h in wanted or ()}
        new = tuple.__new__  # SeriesPoint(...) without its Python-level __new__
        for run in self.history:
            at = run.started_at
            for d in run.devices:
                found = points.get(d.host)
                if found is None:
                    if wanted is not None:
                        continue
                    found = points[d.host] = []
                # The member is its value (a StrEnum); `.value` costs 100,000s of calls.
                found.append(new(SeriesPoint, (at, d.offset_ms, d.verdict)))
        return {host: tuple(p) for host, p in points.items()}


def build_input(
    runs: Sequence[StoredRun],
    *,
    generated_at: float,
    since: float | None = None,
    site: str | None = None,
    db: str = "the history database",
    latest: StoredRun | None = None,
    sites: Sequence[SiteSummary] = (),
    scope: Scope | None = None,
) -> ReportInput:
    """`latest`: the run to report in full (default: the last of `runs`), e.g. every
    site's latest run combined (store.combine_latest)."""
    if not runs and latest is None:
        where = f" for site {site!r}" if site else ""
        raise NoRunsError(
            f"no verify runs stored{where} in {db}",
            hint="run 'orch verify' first, or widen --since",
        )
    return ReportInput(
        latest if latest is not None else runs[-1],
        tuple(runs),
        generated_at,
        since,
        site,
        tuple(sites),
        scope or Scope(),
    )


def offset_limit_ms(device: StoredDevice) -> float | None:
    value = policy_of(device).get("max_offset_ms")
    return None if value is None else float(value)


def policy_of(device: StoredDevice) -> dict[str, float | int]:
    """The thresholds the device was judged against (those its checks name)."""
    out: dict[str, float | int] = {}
    for check in device.checks:
        if check.name in _POLICY:
            key, pattern, kind = _POLICY[check.name]
            if match := pattern.search(check.expected):
                out[key] = kind(match.group(1))
    return out


def not_measured(device: StoredDevice) -> tuple[Check, ...]:
    """The device's checks its platform could not measure (each says why in `actual`)."""
    return tuple(c for c in device.checks if not c.measured)


@functools.lru_cache(maxsize=4096)  # a history repeats each run's time for every device
def iso(ts: float) -> str:
    return (
        _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def reach_text(reach: int | None) -> str:
    """The reach register as devices print it: octal."""
    return "" if reach is None else f"{reach:o}"
