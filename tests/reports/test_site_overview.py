"""The HTML of a report across many sites: every device listed, details for the devices
needing action (each with a light offset line), a site overview with a trend per site."""

from __future__ import annotations

import json
import time

from orchestrator.models import Check, Verdict
from orchestrator.reports import build_input
from orchestrator.reports.html import DETAIL_LIMIT, LARGE_REPORT_FROM, render_html
from orchestrator.reports.json_report import render_json
from orchestrator.store import StoredDevice, StoredRun
from orchestrator.store.sites import SiteSummary, TrendPoint


def device(i: int, site: str, verdict: Verdict) -> StoredDevice:
    return StoredDevice(
        host=f"{site}-rtr{i:03d}",
        site=site,
        platform="cisco_ios",
        verdict=verdict,
        reason="ok" if verdict is Verdict.COMPLIANT else "offset 250 ms is beyond 100 ms",
        offset_ms=0.4 if verdict is Verdict.COMPLIANT else 250.0,
        stratum=2,
        reach=0o377,
        peer="10.10.10.1",
        checks=(Check("offset", verdict is Verdict.COMPLIANT, "|offset| <= 100 ms", "0.4"),),
        evidence_json='{"raw": {"show ntp status": "Clock is synchronized"}}',
    )


def test_a_large_report_details_the_devices_needing_action_and_lists_the_rest() -> None:
    now = time.time()
    sites = [f"site{s:02d}" for s in range(6)]
    devices = tuple(
        device(i, site, Verdict.DRIFTING if i == 7 else Verdict.COMPLIANT)
        for site in sites
        for i in range(50)
    )
    assert len(devices) > LARGE_REPORT_FROM and DETAIL_LIMIT > 6
    runs = [
        StoredRun(k, now - (3 - k) * 3600, now - (3 - k) * 3600 + 9, None, (), devices)
        for k in range(1, 4)
    ]
    summaries = [
        SiteSummary(
            site,
            50,
            49,
            "drifting",
            3,
            now - 3600,
            3600.0,
            site == "site05",
            {},
            tuple(TrendPoint(now - k * 3600, 50, 49) for k in (3, 2, 1)),
        )
        for site in sites
    ]
    html = render_html(build_input(runs, generated_at=now, sites=summaries))
    sections = html.count('<section class="device"')
    assert sections == 6  # one per drifting router, none for the 294 compliant ones
    assert "294 more devices (compliant)" in html and html.count("<tr><td>site0") >= 294
    assert html.count('stroke="#1565c0"') == 6  # a light offset line per detailed device
    overview = html[html.index("<h2>Sites</h2>") : html.index("<h2>Devices</h2>")]
    assert overview.count("<polyline") == 6 and '<tr class="stale"><td>site05</td>' in overview
    assert len(html) < 1_000_000


def test_a_large_json_report_is_compact_and_a_small_one_indented() -> None:
    now = time.time()
    big = tuple(device(i, f"s{i % 7}", Verdict.COMPLIANT) for i in range(LARGE_REPORT_FROM))
    small = big[: LARGE_REPORT_FROM - 1]
    for devices, lines in ((big, 1), (small, None)):
        run_ = StoredRun(1, now - 60, now - 50, None, (), devices)
        text = render_json(build_input([run_], generated_at=now))
        assert len(json.loads(text)["devices"]) == len(devices)
        assert (text.count("\n") == lines) if lines else text.count("\n") > len(devices)
