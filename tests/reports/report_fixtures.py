"""A history with several runs over a week, stored in a real SQLite file, for the renderers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from compliance.compliance_samples import chrony_state, host, ios_state, windows_state

from orchestrator.compliance import evaluate
from orchestrator.models import ClientLogEntry, DeviceVerdict
from orchestrator.reports import ReportInput, build_input
from orchestrator.store import DAY_S, HistoryStore

START = 1_800_000_000.0
RUNS = 6


def run_verdicts(day: int) -> list[DeviceVerdict]:
    now = START + day * DAY_S
    rtr = host("rtr1", hostname="10.1.1.1")
    # rtr2 drifts away over the week: the chart must show it leaving the band.
    rtr2 = host("rtr2", hostname="10.1.1.2")
    lnx = dataclasses.replace(host("lnx1", "linux", hostname="10.2.2.2"), site="branch")
    win = dataclasses.replace(host("win1", "windows", hostname="10.2.2.3"), site="branch")
    return [
        evaluate(rtr, ios_state(offset_ms=-0.5 + day * 0.1), None, now=now),
        evaluate(rtr2, ios_state(offset_ms=20.0 + day * 40.0), None, now=now),
        evaluate(lnx, chrony_state(offset_us=-136.0 + 50 * day), None, now=now),
        evaluate(win, windows_state(domain_policy=day >= 4), None, now=now),
        evaluate(
            dataclasses.replace(host("sw9", hostname="10.1.1.9"), site="branch"),
            None,
            None,
            now=now,
            connection_error='sw9 (10.1.1.9:22): authentication failed <"admin">',
        ),
    ]


def make_history(db: Path) -> ReportInput:
    with HistoryStore(db) as store:
        for day in range(RUNS):
            at = START + day * DAY_S
            store.save_run(
                run_verdicts(day),
                started_at=at,
                finished_at=at + 4.2,
                unknown_clients=[ClientLogEntry("10.66.0.7", at - 60, at - 5, 4, 4, 0, 0, None)],
            )
        runs = store.runs()
    return build_input(runs, generated_at=START + RUNS * DAY_S)
