"""`orch check` as a monitoring plugin: status line, perfdata grammar, the four exit codes
(from stored histories; tests/reports/test_monitoring_lab.py does the same against the lab)."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest
from compliance.compliance_samples import catos_state, host, ios_state

from orchestrator.cli.app import run
from orchestrator.compliance import evaluate
from orchestrator.models import DeviceVerdict
from orchestrator.reports.plugin import number, perf
from orchestrator.store import HistoryStore

# The Monitoring Plugins development guidelines, "Performance data":
#   'label'=value[UOM];[warn];[crit];[min];[max]
# value and min/max in [-0-9.], UOM one of s us ms % B KB MB TB c (or none), warn and
# crit in the range format [@][start:][end] (start may be ~); trailing ; may be dropped.
_NUM = r"-?[0-9.]+"
_RANGE = rf"@?(?:(?:~|{_NUM}):)?(?:{_NUM})?"
PERF_ITEM = re.compile(
    rf"^(?:'[^'=]+'|[^'= ]+)=(?P<value>{_NUM})(?P<uom>s|us|ms|%|B|KB|MB|TB|c)?"
    rf"(?:;(?P<warn>{_RANGE})(?:;(?P<crit>{_RANGE})(?:;(?P<min>{_NUM})?(?:;(?P<max>{_NUM})?)?)?)?)?$"
)
STATUS_LINE = re.compile(r"^NTP (OK|WARNING|CRITICAL|UNKNOWN) - [^|]+(?: \| (.+))?$")
CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def parse_plugin_output(text: str, code: int) -> tuple[str, dict[str, re.Match[str]]]:
    """Check one plugin output against the guidelines; returns its status and perfdata."""
    first = text.splitlines()[0]
    match = STATUS_LINE.match(first)
    assert match, first
    status = match.group(1)
    assert CODES[status] == code, (status, code)
    perfdata: dict[str, re.Match[str]] = {}
    for item in (match.group(2) or "").split():
        parsed = PERF_ITEM.match(item)
        assert parsed, f"perfdata item {item!r} breaks the guidelines' grammar"
        perfdata[item.split("=")[0].strip("'")] = parsed
    return status, perfdata


def store(db: Path, verdicts: list[DeviceVerdict], *, age_s: float = 60.0) -> None:
    at = time.time() - age_s
    with HistoryStore(db) as history:
        history.save_run(verdicts, started_at=at, finished_at=at + 2)


def fleet(*, rtr2_offset_ms: float = 1.0, unsynced: bool = False) -> list[DeviceVerdict]:
    now = time.time()
    rtr2 = host("rtr2", hostname="10.1.1.2")
    state2 = ios_state(offset_ms=rtr2_offset_ms)
    out = [
        evaluate(host("rtr1"), ios_state(offset_ms=-0.4), None, now=now),
        evaluate(rtr2, state2, None, now=now),
        evaluate(host("cat1", "cisco_catos", hostname="10.1.1.3"), catos_state(), None, now=now),
    ]
    if unsynced:
        out.append(
            evaluate(
                host("cat2", "cisco_catos", hostname="10.1.1.4"),
                dataclasses.replace(catos_state(synced=False), host="cat2"),
                None,
                now=now,
            )
        )
    return out


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run(["check", *args])
    return code, capsys.readouterr().out


def test_perfdata_formatting_follows_the_grammar() -> None:
    assert number(1.8e-05) == "0.000018" and number(2.0) == "2" and number(-0.0) == "0"
    assert perf("stale", 0, "", None, None, 0, 5) == "'stale'=0;;;0;5"
    assert perf("worst_offset", 0.22, "s", 0.1, 0.2, 0) == "'worst_offset'=0.22s;0.1;0.2;0"
    assert PERF_ITEM.match("'worst_offset'=0.22s;0.1;0.2;0")
    assert not PERF_ITEM.match("'worst_offset'=2.2e-01s;0.1;0.2;0")  # the grammar can fail


def test_all_compliant_is_ok_with_perfdata(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "h.sqlite"
    store(db, fleet())
    code, out = check(capsys, "--db", str(db))
    status, perfdata = parse_plugin_output(out, code)
    assert status == "OK" and code == 0
    assert "3/3 devices compliant" in out and "worst offset 1 ms (rtr2)" in out
    assert perfdata["compliant"]["value"] == "3" and perfdata["compliant"]["max"] == "3"
    worst = perfdata["worst_offset"]
    assert (worst["value"], worst["uom"], worst["warn"], worst["crit"]) == (
        "0.001",
        "s",
        "0.1",
        "",
    )
    assert perfdata["stale"]["value"] == "0"


def test_a_drifting_device_is_warning_and_thresholds_override_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db = tmp_path / "h.sqlite"
    store(db, fleet(rtr2_offset_ms=150.0))
    code, out = check(capsys, "--db", str(db))
    assert parse_plugin_output(out, code)[0] == "WARNING"
    assert "rtr2 drifting" in out.splitlines()[0] and "WARNING: rtr2 (hq) drifting" in out
    # -w/-c in seconds override the site policy: 150 ms is within 0.2 s, beyond 0.1 s.
    code, out = check(capsys, "--db", str(db), "-w", "0.2", "-c", "0.5")
    assert parse_plugin_output(out, code)[0] == "OK"
    code, out = check(capsys, "--db", str(db), "-w", "0.05", "-c", "0.1")
    status, perfdata = parse_plugin_output(out, code)
    assert status == "CRITICAL" and perfdata["worst_offset"]["crit"] == "0.1"
    code, out = check(capsys, "--db", str(db), "--host", "rtr1")
    assert parse_plugin_output(out, code)[0] == "OK" and "1/1 devices compliant" in out


def test_an_unsynchronised_device_is_critical(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db = tmp_path / "h.sqlite"
    store(db, fleet(unsynced=True))
    code, out = check(capsys, "--db", str(db), "--site", "hq")
    status, perfdata = parse_plugin_output(out, code)
    assert status == "CRITICAL" and "cat2 unsynchronised" in out
    assert perfdata["compliant"]["value"] == "3" and perfdata["devices"]["value"] == "4"


def test_stale_verdicts_are_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "h.sqlite"
    store(db, fleet(), age_s=5 * 3600)
    code, out = check(capsys, "--db", str(db), "--max-age", "1h")
    status, perfdata = parse_plugin_output(out, code)
    assert status == "WARNING" and perfdata["stale"]["value"] == "3" and "stale" in out


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty", "no-such-host"])
def test_no_run_or_an_unreadable_database_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    db = tmp_path / "h.sqlite"
    args = ["--db", str(db)]
    if case == "corrupt":
        db.write_bytes(b"this is not a database" * 100)
    elif case == "empty":
        HistoryStore(db).close()
    elif case == "no-such-host":
        store(db, fleet())
        args += ["--host", "nonesuch"]
    code, out = check(capsys, *args)
    assert parse_plugin_output(out, code)[0] == "UNKNOWN" and code == 3
    assert len(out.splitlines()) == 1 and "Traceback" not in out
    assert not (case == "missing" and db.exists())  # a check never creates a database


@pytest.mark.parametrize(
    "args", [["-w", "abc"], ["--bogus"], ["-w", "0.2", "-c", "0.1"], ["--max-age", "soon"]]
)
def test_bad_arguments_are_unknown_not_critical(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str]
) -> None:
    code, out = check(capsys, "--db", str(tmp_path / "h.sqlite"), *args)
    assert code == 3 and out.startswith("NTP UNKNOWN - ")
