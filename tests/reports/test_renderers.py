"""Each report format, parsed back with a real parser for that format."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.errors import InputError
from orchestrator.reports import FORMATS, NoRunsError, ReportInput, build_input, render
from reports.report_fixtures import RUNS, make_history


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> ReportInput:
    return make_history(tmp_path_factory.mktemp("reports") / "history.sqlite")


def test_table_lists_every_device_with_verdict_and_reason(data: ReportInput) -> None:
    text = render("table", data)
    for host in ("rtr1", "rtr2", "lnx1", "win1", "sw9"):
        assert host in text
    assert "drifting" in text and "blocked" in text and "unreachable" in text
    assert "2/5 compliant" in text
    assert "not in the inventory: 10.66.0.7" in text


def test_json_has_the_latest_run_with_evidence_and_history(data: ReportInput) -> None:
    doc = json.loads(render("json", data))
    assert doc["summary"]["devices"] == 5 and doc["summary"]["compliant"] == 2
    rtr2 = next(d for d in doc["devices"] if d["host"] == "rtr2")
    assert rtr2["verdict"] == "drifting" and rtr2["complies"] is False
    assert rtr2["offset_ms"] == 220.0
    assert any(c["name"] == "offset" and not c["passed"] for c in rtr2["checks"])
    assert "show ntp associations" in rtr2["evidence"]["raw"]
    assert [p["offset_ms"] for p in doc["history"]["rtr2"]] == [20.0 + 40 * d for d in range(RUNS)]
    assert len(doc["runs"]) == RUNS and doc["unknown_clients"][0]["address"] == "10.66.0.7"


def test_csv_parses_one_row_per_device_per_run(data: ReportInput) -> None:
    rows = list(csv.DictReader(io.StringIO(render("csv", data))))
    assert len(rows) == RUNS * 5
    last_sw9 = [r for r in rows if r["host"] == "sw9"][-1]
    assert last_sw9["verdict"] == "unreachable"
    assert 'authentication failed <"admin">' in last_sw9["reason"]  # quotes survive CSV
    rtr1 = [r for r in rows if r["host"] == "rtr1"]
    assert float(rtr1[0]["offset_ms"]) == -0.5 and rtr1[0]["reach"] == "377"


def test_junit_is_xml_with_a_suite_per_site_and_failures_with_reasons(data: ReportInput) -> None:
    root = ET.fromstring(render("junit", data))
    # 5 devices, plus win1's offset and reach: checks w32tm cannot measure, skipped.
    assert root.tag == "testsuites" and root.get("tests") == "7"
    assert (root.get("failures"), root.get("errors")) == ("2", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"hq", "branch"}
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["rtr1"].find("failure") is None
    failure = cases["win1"].find("failure")
    assert failure is not None and failure.get("type") == "blocked"
    assert "domain policy" in (failure.get("message") or "")
    assert "FAIL domain-policy" in (failure.text or "")
    assert "n/m  offset" in (failure.text or "")
    assert suites["branch"].get("failures") == "1" and suites["branch"].get("errors") == "1"
    assert suites["branch"].get("skipped") == "2"


def test_junit_unreachable_is_an_error_and_not_measured_is_skipped(data: ReportInput) -> None:
    root = ET.fromstring(render("junit", data))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    error = cases["sw9"].find("error")
    assert error is not None and cases["sw9"].find("failure") is None
    assert "authentication failed" in (error.get("message") or "")
    skipped = cases["win1 reach"].find("skipped")
    assert skipped is not None and "reach register" in (skipped.get("message") or "")
    assert cases["win1 offset"].find("skipped") is not None
    assert "timestamp" not in root.attrib


def test_junit_is_valid_against_the_junit_10_schema(data: ReportInput) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("junit10_rules.xsd"))))
    document = etree.fromstring(render("junit", data).encode())
    assert schema.validate(document), schema.error_log
    # The schema is strict enough to catch the old output: a timestamp on <testsuites>.
    document.set("timestamp", "2027-01-15T08:00:00Z")
    assert not schema.validate(document)


def test_prometheus_textfile_parses_and_carries_the_gauges(data: ReportInput) -> None:
    text = render("prometheus", data)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "orch_ntp_offset_seconds",
        "orch_ntp_compliant",
        "orch_ntp_stratum",
        "orch_ntp_reach",
        "orch_last_run_timestamp_seconds",
    ):
        assert families[name].type == "gauge" and families[name].documentation
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text
    offsets = {s.labels["host"]: s.value for s in families["orch_ntp_offset_seconds"].samples}
    assert offsets["rtr2"] == 0.22 and "sw9" not in offsets and "win1" not in offsets
    unmeasured = {
        s.labels["host"]: s.value for s in families["orch_ntp_checks_not_measured"].samples
    }
    assert unmeasured["win1"] == 2 and unmeasured["rtr1"] == 0
    compliant = {s.labels["host"]: s.value for s in families["orch_ntp_compliant"].samples}
    assert compliant == {"rtr1": 1, "rtr2": 0, "lnx1": 1, "win1": 0, "sw9": 0}
    (stamp,) = families["orch_last_run_timestamp_seconds"].samples
    assert stamp.value == data.latest.started_at  # full precision, not 1.8e+09
    reach = {s.labels["host"]: s.value for s in families["orch_ntp_reach"].samples}
    assert reach["rtr1"] == 255


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]


def test_html_is_one_self_contained_file_with_a_chart_per_device(data: ReportInput) -> None:
    html = render("html", data)
    parser = _Collector()
    parser.feed(html)
    assert parser.tags.count("svg") == 6  # the fleet's trend + one offset chart per device
    assert "compliant devices per run" in html
    assert "<td>*10.10.10.1</td>" in html  # the parsed association rows, sys.peer marked
    assert '<tr><td>branch</td><td class="num">3</td><td class="num fail">1</td></tr>' in html
    assert {"link", "img", "iframe"}.isdisjoint(parser.tags)
    assert parser.tags.count("script") == 1  # the table's sort/filter, inline (no src)
    # Only in-page anchors (#dev-1) and SVG-internal references (#p1a2b3c).
    assert parser.refs and all(r.startswith("#") for r in parser.refs), parser.refs
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    # Namespace declarations are identifiers, never fetched; nothing else may name a URL.
    assert not re.findall(r"https?://", re.sub(r'xmlns(:\w+)?="[^"]*"', "", html))
    assert "drifting" in html and "offset over time" in html
    assert "&lt;&#34;admin&#34;&gt;" in html or "&lt;&quot;admin&quot;&gt;" in html  # escaped


def test_no_runs_is_a_clear_input_error() -> None:
    with pytest.raises(NoRunsError, match="run 'orch verify' first") as info:
        build_input([], generated_at=0.0, site="hq", db="/tmp/h.sqlite")
    assert isinstance(info.value, InputError) and "site 'hq'" in str(info.value)


def test_unknown_format_is_an_input_error(data: ReportInput) -> None:
    assert set(FORMATS) == {"table", "json", "csv", "junit", "html", "prometheus"}
    with pytest.raises(InputError, match="unknown report format 'pdf'"):
        render("pdf", data)


def test_renderers_are_pure_functions_of_the_stored_data(tmp_path: Path) -> None:
    a = make_history(tmp_path / "a.sqlite")
    b = make_history(tmp_path / "b.sqlite")
    for fmt in FORMATS:
        assert render(fmt, a) == render(fmt, b), fmt


def test_parallel_chart_drawing_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from compliance.compliance_samples import host, ios_state

    from orchestrator.compliance import evaluate
    from orchestrator.reports import html as html_module
    from orchestrator.store import HistoryStore

    hosts = [host(f"r{i:03d}", hostname=f"10.9.0.{i}") for i in range(70)]
    with HistoryStore(tmp_path / "h.sqlite") as store:
        for r in range(2):
            at = 1_800_000_000.0 + r * 3600
            verdicts = [
                evaluate(
                    h, dataclasses.replace(ios_state(offset_ms=i + r), host=h.name), None, now=at
                )
                for i, h in enumerate(hosts)
            ]
            store.save_run(verdicts, started_at=at, finished_at=at + 5)
        runs = store.runs()
    data = build_input(runs, generated_at=1_800_010_000.0)
    assert len(data.latest.devices) >= html_module.PARALLEL_CHARTS_FROM
    parallel = render("html", data)
    monkeypatch.setattr(html_module, "PARALLEL_CHARTS_FROM", 10**9)
    assert render("html", data) == parallel
    assert parallel.count("<svg") == 71


def test_html_has_scope_policy_changes_history_and_not_measured(data: ReportInput) -> None:
    html = render("html", data)
    assert 'id="scope"' in html and "Policy in force" in html and "orch version" in html
    assert "hq: |offset| ≤ 100.0 ms, stratum ≤ 15, ≥ 4/8 polls answered" in html
    # win1 went from compliant to blocked in the latest run (domain policy from day 4 on:
    # the change was one run earlier), rtr2 drifted out of policy between runs.
    assert "unchanged" in html and "Changed since previous run</dt><dd>0 device(s)" in html
    assert html.count('<i class="v-') == 5 * RUNS  # one history cell per device per run
    assert "not measured" in html and "pass: not reported" not in html
    assert '<td class="nm">not measured</td>' in html
    assert "@media print" in html and 'id="device-filter"' in html
