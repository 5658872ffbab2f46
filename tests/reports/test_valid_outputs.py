"""Each machine-read output checked by the real checker of its format: promtool for the
Prometheus textfile, the shipped JSON Schema for the JSON report."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from orchestrator.reports import ReportInput, render
from reports.report_fixtures import make_history

PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> ReportInput:
    return make_history(tmp_path_factory.mktemp("valid") / "history.sqlite")


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )


def report_schema() -> dict[str, object]:
    text = resources.files("orchestrator.reports").joinpath("schema/report.schema.json")
    schema: dict[str, object] = json.loads(text.read_text(encoding="utf-8"))
    return schema


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (scripts/install.sh)")
def test_promtool_accepts_the_prometheus_report(data: ReportInput) -> None:
    result = promtool_check(render("prometheus", data))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (scripts/install.sh)")
def test_promtool_rejects_a_non_base_unit_so_the_check_can_fail() -> None:
    bad = (
        "# HELP orch_ntp_offset_ms Offset.\n# TYPE orch_ntp_offset_ms gauge\norch_ntp_offset_ms 1\n"
    )
    result = promtool_check(bad)
    assert result.returncode != 0 and "abbreviated units" in (result.stdout + result.stderr)


def test_the_json_report_validates_against_the_shipped_schema(data: ReportInput) -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(render("json", data))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["schema_version"] == 2
    win1 = next(d for d in doc["devices"] if d["host"] == "win1")
    assert {n["check"] for n in win1["not_measured"]} == {"offset", "reach"}
    rtr1 = next(d for d in doc["devices"] if d["host"] == "rtr1")
    assert (rtr1["reach"], rtr1["reach_octal"]) == (255, "377")
    assert doc["unknown_clients"][0]["last_seen"].endswith("Z")  # ISO 8601, not Unix time


def test_every_json_report_of_every_run_validates(tmp_path: Path) -> None:
    """Each window of the history (one run, some runs, all) gives a valid document."""
    from orchestrator.reports import build_input

    full = make_history(tmp_path / "h.sqlite")
    validator = jsonschema.Draft202012Validator(report_schema())
    for end in range(1, len(full.history) + 1):
        window = build_input(full.history[:end], generated_at=full.generated_at)
        validator.validate(json.loads(render("json", window)))


def test_the_schema_rejects_a_not_measured_check_that_passes(data: ReportInput) -> None:
    doc = json.loads(render("json", data))
    win1 = next(d for d in doc["devices"] if d["host"] == "win1")
    check = next(c for c in win1["checks"] if not c["measured"])
    check["status"], check["passed"] = "pass", True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(report_schema()).validate(doc)
