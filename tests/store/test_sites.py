"""Reports across sites, on both backends: each site's latest run, a per-site summary
(devices, compliant, worst verdict, last run, stale sites), --site narrowing it."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from compliance.compliance_samples import host, ios_state

from orchestrator.cli.app import run
from orchestrator.compliance import evaluate
from orchestrator.models import DeviceVerdict
from orchestrator.store import HistoryStore
from orchestrator.store.sites import inferred_schedule, worst_verdict

HOUR = 3600.0


def site_verdicts(site: str, at: float, *, drifting: int = 0, down: int = 0) -> list[DeviceVerdict]:
    out = []
    for i in range(4):
        h = dataclasses.replace(host(f"{site}-rtr{i}", hostname=f"10.9.9.{i}"), site=site)
        if i < down:
            out.append(evaluate(h, None, None, now=at, connection_error="timed out after 10 s"))
        else:
            offset = 900.0 if i < down + drifting else 0.4
            out.append(evaluate(h, ios_state(offset_ms=offset), None, now=at))
    return out


def fill(db: str, now: float) -> None:
    """hq: hourly, all fine but the last run has one drifting router; branch: hourly
    until 5 h ago (stale), one router down; lab: a single run."""
    with HistoryStore(db) as store:
        for k in range(6, 0, -1):
            at = now - k * HOUR
            store.save_run(
                site_verdicts("hq", at, drifting=1 if k == 1 else 0),
                started_at=at,
                finished_at=at + 5,
            )
        for k in range(10, 4, -1):
            at = now - k * HOUR + 60
            store.save_run(site_verdicts("branch", at, down=1), started_at=at, finished_at=at + 5)
        store.save_run(
            site_verdicts("lab", now - 2 * HOUR),
            started_at=now - 2 * HOUR,
            finished_at=now - 2 * HOUR + 5,
        )


def test_site_summaries_latest_runs_and_staleness(db: str) -> None:
    now = time.time()
    fill(db, now)
    with HistoryStore(db) as store:
        sites = {s.site: s for s in store.site_summaries(now=now, since=now - 7 * 86400)}
        latest = {r.sites: r for r in store.latest_per_site()}
        narrow = store.site_summaries(now=now, since=now - 3 * HOUR)
    assert set(sites) == {"hq", "branch", "lab"}
    hq, branch, lab = sites["hq"], sites["branch"], sites["lab"]
    assert (hq.devices, hq.compliant, hq.worst, hq.stale) == (4, 3, "drifting", False)
    assert hq.schedule_s == pytest.approx(HOUR) and len(hq.trend) == 6
    assert [p.compliant for p in hq.trend] == [4, 4, 4, 4, 4, 3]
    assert (branch.devices, branch.compliant, branch.worst) == (4, 3, "unreachable")
    assert branch.stale and branch.last_run_at == pytest.approx(now - 5 * HOUR + 60)
    assert lab.schedule_s is None and not lab.stale and lab.compliant == 4
    assert set(latest) == {("hq",), ("branch",), ("lab",)}
    assert latest[("branch",)].started_at == pytest.approx(now - 5 * HOUR + 60)
    # A narrow window still lists every site (branch's last run is older than it).
    assert {s.site for s in narrow} == {"hq", "branch", "lab"}
    assert next(s for s in narrow if s.site == "branch").stale


def test_report_without_site_covers_every_site_and_site_narrows_it(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, time.time())
    assert run(["--db", db, "report", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_site: dict[str, list[str]] = {}
    for d in doc["devices"]:
        by_site.setdefault(d["site"], []).append(d["verdict"])
    assert sorted(by_site) == ["branch", "hq", "lab"] and all(len(v) == 4 for v in by_site.values())
    assert sorted(by_site["hq"]) == ["compliant"] * 3 + ["drifting"]
    assert sorted(by_site["branch"]) == ["compliant"] * 3 + ["unreachable"]
    summary = {s["site"]: s for s in doc["sites"]}
    assert summary["branch"]["stale"] and summary["hq"]["worst_verdict"] == "drifting"
    assert doc["summary"]["devices"] == 12 and doc["summary"]["compliant"] == 10

    assert run(["report", "--db", db, "--site", "lab", "--format", "json"]) == 0
    lab = json.loads(capsys.readouterr().out)
    assert {d["site"] for d in lab["devices"]} == {"lab"} and len(lab["devices"]) == 4
    assert [s["site"] for s in lab["sites"]] == ["lab"]

    out = tmp_path / "report.html"
    assert run(["report", "--db", db, "--format", "html", "--out", str(out)]) == 1
    html = out.read_text()
    overview = html[html.index("<h2>Sites</h2>") : html.index("<h2>Devices</h2>")]
    assert overview.count("<polyline") == 3  # a trend per site
    assert '<tr class="stale"><td>branch</td>' in overview
    assert "STALE: last run 5 h ago" in overview

    assert run(["report", "--db", db]) == 1
    table = capsys.readouterr().out
    assert "Sites" in table and "STALE (every 1 h)" in table


def test_schedule_and_worst_verdict_rules() -> None:
    assert inferred_schedule([0, 3600, 7200, 10800, 90000]) == 3600  # the median gap
    assert inferred_schedule([5.0]) is None
    assert worst_verdict(["compliant", "drifting", "unreachable"]) == "unreachable"
    assert worst_verdict([]) == "compliant"
