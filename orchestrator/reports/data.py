"""The one input every renderer takes: the latest run plus the history around it."""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from orchestrator.errors import InputError
from orchestrator.store.records import StoredDevice, StoredRun
from orchestrator.store.sites import SiteSummary

# The offset check's `expected` reads "|offset| <= 100 ms" (compliance.rules.offset).
_OFFSET_LIMIT = re.compile(r"<=\s*([0-9.]+)\s*ms")


class NoRunsError(InputError):
    """Nothing stored to report on."""


@dataclass(frozen=True)
class SeriesPoint:
    time: float  # Unix time of the run
    offset_ms: float | None
    verdict: str


@dataclass(frozen=True)
class ReportInput:
    latest: StoredRun
    history: tuple[StoredRun, ...]  # oldest first; ends with `latest`
    generated_at: float
    since: float | None = None
    site: str | None = None
    sites: tuple[SiteSummary, ...] = ()  # every site's summary (store.site_summaries)

    def series(self, host: str) -> tuple[SeriesPoint, ...]:
        """The host's offset over the history, one point per run that judged it."""
        return self._series.get(host, ())

    @cached_property
    def _series(self) -> dict[str, tuple[SeriesPoint, ...]]:
        # One pass over the history, not one per host (1000 hosts x 24 runs x 1000 rows).
        points: dict[str, list[SeriesPoint]] = {}
        for run in self.history:
            for d in run.devices:
                points.setdefault(d.host, []).append(
                    # The member is its value (a StrEnum); `.value` costs 100,000s of calls.
                    SeriesPoint(run.started_at, d.offset_ms, d.verdict)
                )
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
    )


def offset_limit_ms(device: StoredDevice) -> float | None:
    for check in device.checks:
        if check.name == "offset" and (match := _OFFSET_LIMIT.search(check.expected)):
            return float(match.group(1))
    return None


@functools.lru_cache(maxsize=4096)  # a history repeats each run's time for every device
def iso(ts: float) -> str:
    return (
        _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def reach_text(reach: int | None) -> str:
    """The reach register as devices print it: octal."""
    return "" if reach is None else f"{reach:o}"
