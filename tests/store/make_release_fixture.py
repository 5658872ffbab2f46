"""Write tests/store/fixtures/history-release.sqlite with the history code of the release
before the store interface (main at e768690: schema version 2, plain sqlite3).

Kept for the record of how the fixture was made; run it from a checkout of that commit:
    git worktree add /tmp/orch-old e768690 && cd /tmp/orch-old
    PYTHONPATH=.:tests python <this file> OUT.sqlite
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from compliance.compliance_samples import chrony_state, host, ios_state

from orchestrator.compliance import evaluate
from orchestrator.models import ClientLogEntry
from orchestrator.store import HistoryStore

START = 1_800_000_000.0


def main(out: Path) -> None:
    with HistoryStore(out) as store:
        for day in range(3):
            at = START + day * 86400.0
            rtr = host("rtr1", hostname="10.1.1.1")
            lnx = dataclasses.replace(host("lnx1", "linux", hostname="10.2.2.2"), site="branch")
            sw9 = host("sw9", hostname="10.1.1.9")
            store.save_run(
                [
                    evaluate(rtr, ios_state(offset_ms=-0.5 + day), None, now=at),
                    evaluate(lnx, chrony_state(offset_us=-136.0), None, now=at),
                    evaluate(sw9, None, None, now=at, connection_error="timed out after 10 s"),
                ],
                started_at=at,
                finished_at=at + 3,
                site_filter=None,
                host_filter=(),
                unknown_clients=[ClientLogEntry("10.66.0.7", at - 60, at - 5, 4, 4, 0, 0, None)],
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
