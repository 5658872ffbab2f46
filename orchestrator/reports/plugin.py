"""The monitoring-plugin view of the latest verdicts (Nagios, Icinga, Checkmk, Naemon).

Follows the Monitoring Plugins development guidelines: one status line, then `|` and
the performance data ('label'=value[UOM];[warn];[crit];[min];[max]), further lines of
detail after it, and the exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Per device:
  * not compliant for a reason other than its offset (unsynchronised, unreachable,
    synced elsewhere, misconfigured, blocked) -> CRITICAL;
  * drifting on stratum or reach -> WARNING;
  * its measured |offset| above the critical threshold -> CRITICAL, above the warning
    threshold -> WARNING (so `-w`/`-c` override the site policy for the offset);
  * its latest verdict older than `max_age_s` (stale) -> at least WARNING.
The worst device decides. The warning threshold defaults to the site policy's
max_offset_ms (beyond it a device is "drifting": synchronised to us, but off); there
is no critical offset unless `-c` gives one, since drifting is a WARNING and losing
synchronisation is what is CRITICAL.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.models import Verdict
from orchestrator.reports.data import offset_limit_ms
from orchestrator.store.records import StoredDevice, StoredRun

SERVICE = "NTP"
SHOWN_IN_STATUS = 3  # devices named in the status line; the rest go to the long text


class Status(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class Observed:
    """A device's latest verdict and when it was made."""

    device: StoredDevice
    at: float  # Unix time of the run
    run_id: int | None  # None: verified live, not stored


@dataclass(frozen=True)
class Result:
    status: Status
    summary: str
    perfdata: tuple[str, ...]
    details: tuple[str, ...] = ()

    def text(self) -> str:
        """The plugin output: status line with perfdata, then the long text."""
        # "|" starts the perfdata: never let a name or a reason contain one.
        first = f"{SERVICE} {self.status.name} - {self.summary.replace('|', '/')}"
        if self.perfdata:
            first += " | " + " ".join(self.perfdata)
        return "\n".join((first, *(d.replace("|", "/") for d in self.details))) + "\n"


def unknown(message: str) -> Result:
    return Result(Status.UNKNOWN, message, ())


def latest_per_device(runs: Iterable[StoredRun], hosts: Sequence[str] = ()) -> list[Observed]:
    """Each device's most recent verdict over `runs` (oldest first), optionally only `hosts`."""
    latest: dict[str, Observed] = {}
    for run in runs:
        for d in run.devices:
            if not hosts or d.host in hosts:
                latest[d.host] = Observed(d, run.started_at, run.id)
    return sorted(latest.values(), key=lambda o: (o.device.site, o.device.host))


def number(value: float) -> str:
    """A perfdata number: plain decimal, never an exponent (the guidelines' [-0-9.])."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def perf(
    label: str,
    value: float,
    uom: str = "",
    warn: float | None = None,
    crit: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> str:
    fields = [f"'{label}'={number(value)}{uom}"]
    fields += ["" if v is None else number(v) for v in (warn, crit, minimum, maximum)]
    return ";".join(fields).rstrip(";")


@dataclass(frozen=True)
class _Judged:
    obs: Observed
    status: Status
    why: str


def _judge(
    obs: Observed, *, now: float, max_age_s: float, warn_s: float | None, crit_s: float | None
) -> _Judged:
    d = obs.device
    limit_ms = offset_limit_ms(d)
    warn = warn_s if warn_s is not None else (limit_ms / 1000.0 if limit_ms is not None else None)
    crit = crit_s
    failing = {c.name for c in d.checks if c.status == "fail"}
    status, why = Status.OK, d.reason
    if d.verdict is not Verdict.COMPLIANT and not (
        d.verdict is Verdict.DRIFTING and failing <= {"offset"}
    ):
        status = Status.CRITICAL if d.verdict is not Verdict.DRIFTING else Status.WARNING
    elif d.offset_ms is not None:
        offset_s = abs(d.offset_ms) / 1000.0
        if crit is not None and offset_s > crit:
            status = Status.CRITICAL
            why = f"offset {d.offset_ms:g} ms beyond the critical {crit:g} s"
        elif warn is not None and offset_s > warn:
            status = Status.WARNING
            why = f"offset {d.offset_ms:g} ms beyond the warning {warn:g} s"
        else:
            why = f"offset {d.offset_ms:g} ms within {warn:g} s" if warn is not None else d.reason
    age = now - obs.at
    if age > max_age_s:
        status = max(status, Status.WARNING)
        why = f"stale: last verified {age / 3600:.1f} h ago; {why}"
    return _Judged(obs, status, why)


def evaluate(
    observed: Sequence[Observed],
    *,
    now: float,
    max_age_s: float,
    warn_s: float | None = None,
    crit_s: float | None = None,
    scope: str = "",
) -> Result:
    """The plugin result over the devices' latest verdicts; UNKNOWN when there are none."""
    where = f" for {scope}" if scope else ""
    if not observed:
        return unknown(f"no verify run stored{where}: run 'orch verify' first")
    judged = [
        _judge(o, now=now, max_age_s=max_age_s, warn_s=warn_s, crit_s=crit_s) for o in observed
    ]
    status = max(j.status for j in judged)
    total = len(judged)
    compliant = sum(1 for j in judged if j.obs.device.complies)
    stale = sum(1 for j in judged if now - j.obs.at > max_age_s)
    offsets = [j for j in judged if j.obs.device.offset_ms is not None]
    worst = max(offsets, key=lambda j: abs(j.obs.device.offset_ms or 0.0), default=None)

    summary = f"{compliant}/{total} devices compliant{where}"
    if worst is not None:
        offset_ms = worst.obs.device.offset_ms or 0.0
        summary += f", worst offset {offset_ms:g} ms ({worst.obs.device.host})"
    problems = sorted((j for j in judged if j.status > Status.OK), key=lambda j: -j.status)
    if problems:
        named = ", ".join(
            f"{j.obs.device.host} {j.obs.device.verdict.value}" for j in problems[:SHOWN_IN_STATUS]
        )
        more = len(problems) - SHOWN_IN_STATUS
        summary += f"; {named}" + (f" (+{more} more)" if more > 0 else "")
    if stale:
        summary += f"; {stale} stale"

    # Thresholds for the perfdata: the ones given, else the strictest policy in scope.
    limits = [lim for j in judged if (lim := offset_limit_ms(j.obs.device)) is not None]
    warn = warn_s if warn_s is not None else (min(limits) / 1000.0 if limits else None)
    crit = crit_s
    perfdata = [
        perf("compliant", compliant, "", None, None, 0, total),
        perf("devices", total, "", None, None, 0, None),
        perf("stale", stale, "", None, None, 0, total),
    ]
    if worst is not None:
        worst_s = abs(worst.obs.device.offset_ms or 0.0) / 1000.0
        perfdata.append(perf("worst_offset", worst_s, "s", warn, crit, 0, None))
    details = tuple(
        f"{j.status.name}: {j.obs.device.host} ({j.obs.device.site}) "
        f"{j.obs.device.verdict.value}: {j.why}"
        + (f" [run {j.obs.run_id}]" if j.obs.run_id is not None else " [live]")
        for j in problems
    )
    return Result(status, summary, tuple(perfdata), details)
