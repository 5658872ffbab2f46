"""JSON: the latest run in full (checks and evidence), run summaries and offset history.

The document follows `schema/report.schema.json` (shipped in the package); its
`schema_version` changes whenever a field changes meaning or goes away.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator import __version__
from orchestrator.models import ClientLogEntry, Verdict
from orchestrator.reports.data import ReportInput, iso, not_measured, reach_text
from orchestrator.reports.site_overview import LARGE_REPORT_FROM, site_json
from orchestrator.store.records import StoredDevice, StoredRun

_VERDICT_VALUES = tuple(v.value for v in Verdict)
SCHEMA_VERSION = 2  # 1: before schema_version existed (no scope, policy, not measured)


def device_json(d: StoredDevice, *, evidence: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "host": d.host,
        "site": d.site,
        "platform": d.platform,
        "verdict": d.verdict.value,
        "complies": d.complies,
        "reason": d.reason,
        "peer": d.peer,
        "offset_ms": d.offset_ms,
        "stratum": d.stratum,
        # Both forms: the register's value, and the octal digits devices print (377).
        "reach": d.reach,
        "reach_octal": reach_text(d.reach) or None,
        "checks": [
            {
                "name": c.name,
                "status": c.status,
                "passed": c.passed,
                "measured": c.measured,
                "expected": c.expected,
                "actual": c.actual,
            }
            for c in d.checks
        ],
        "not_measured": [{"check": c.name, "why": c.actual} for c in not_measured(d)],
    }
    if evidence:
        out["evidence"] = d.evidence
    return out


def client_json(e: ClientLogEntry) -> dict[str, Any]:
    return {
        "address": e.address,
        "first_seen": iso(e.first_seen),
        "last_seen": iso(e.last_seen),
        "requests": e.requests,
        "responses": e.responses,
        "drops": e.drops,
        "kods": e.kods,
        "key_id": e.key_id,
    }


def run_json(run: StoredRun) -> dict[str, Any]:
    # One pass over the devices (a history has 1000s of runs): the same figures as
    # run.counts, run.compliant, run.noncompliant and not_measured() give.
    counts = dict.fromkeys(_VERDICT_VALUES, 0)
    unmeasured = 0
    for d in run.devices:
        counts[d.verdict] += 1  # a StrEnum member hashes as its value
        if d.checks:
            unmeasured += sum(1 for c in d.checks if not c.measured)
    compliant = counts[Verdict.COMPLIANT.value]
    return {
        "id": run.id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "site_filter": run.site_filter,
        "devices": len(run.devices),
        "compliant": compliant,
        "noncompliant": len(run.devices) - compliant,
        "not_measured_checks": unmeasured,
        "counts": counts,
    }


def history_json(data: ReportInput, hosts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each host's points over the window (the points `data.series` gives), made in one
    pass over the history with each run's time formatted once."""
    out: dict[str, list[dict[str, Any]]] = {h: [] for h in hosts}
    for run in data.history:
        at = iso(run.started_at)
        for d in run.devices:
            if (points := out.get(d.host)) is not None:
                # The member is its value (a StrEnum), as in SeriesPoint.
                points.append({"time": at, "offset_ms": d.offset_ms, "verdict": d.verdict})
    return out


def render_json(data: ReportInput) -> str:
    run = data.latest
    hosts = [d.host for d in run.devices]
    devices = []
    for d in run.devices:
        change = data.change(d.host)
        devices.append(
            {
                **device_json(d),
                "previous_verdict": change.previous,
                "changed": change.changed,
            }
        )
    doc = {
        "schema_version": SCHEMA_VERSION,
        "orch_version": __version__,
        "generated_at": iso(data.generated_at),
        "site": data.site,
        "since": iso(data.since) if data.since is not None else None,
        "scope": {
            "inventory": data.scope.inventory,
            "database": data.scope.database,
            "filters": dict(data.scope.filters),
            "sites": list(run.sites),
        },
        "policy": data.policy,
        "summary": run_json(run),
        "devices": devices,
        "unknown_clients": [client_json(e) for e in run.unknown_clients],
        "sites": [site_json(s) for s in data.sites],
        "runs": [run_json(r) for r in data.history],
        "history": history_json(data, hosts),
    }
    # A large report (thousands of devices across sites) uses json's C encoder: with
    # indent it would take the pure-Python one, 6x slower on 30 MB.
    return json.dumps(doc, indent=2 if len(run.devices) < LARGE_REPORT_FROM else None) + "\n"
