"""`orch report` end to end over a stored history: formats, --out, exit codes, errors."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.cli import report_cmd
from orchestrator.cli.app import run
from orchestrator.store import DAY_S, HistoryStore
from reports.report_fixtures import run_verdicts


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    """Three runs over the last three days (the fixture verdicts, re-dated to now)."""
    path = tmp_path / "history.sqlite"
    now = time.time()
    with HistoryStore(path) as store:
        for day in range(3):
            at = now - (2 - day) * DAY_S - 60
            store.save_run(run_verdicts(day), started_at=at, finished_at=at + 2)
    return path


def test_json_report_exits_1_when_the_latest_run_has_failures(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", "--db", str(db), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["runs"]) == 3 and doc["summary"]["noncompliant"] == 1  # sw9


def test_since_narrows_the_window(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["report", "--db", str(db), "--format", "json", "--since", "1d"])
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 1


def test_site_filter_and_exit_0_when_that_site_complies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        ok = [v for v in run_verdicts(0) if v.host == "rtr1"]
        store.save_run(ok, started_at=time.time() - 5, finished_at=time.time())
    assert run(["report", "--db", str(path), "--site", "hq", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run_id,") and len(lines) == 2 and ",rtr1,hq," in lines[1]


def test_out_writes_the_file_atomically(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "ntp.xml"
    assert run(["report", "--db", str(db), "--format", "junit", "--out", str(out)]) == 1
    assert ET.parse(out).getroot().tag == "testsuites"
    assert [p.name for p in out.parent.iterdir()] == ["ntp.xml"]  # no temp file left behind


def test_no_runs_stored_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.sqlite"
    HistoryStore(empty).close()
    assert run(["report", "--db", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no verify runs stored" in err and "run 'orch verify' first" in err
    assert "Traceback" not in err


def test_bad_since_and_missing_db_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", "--db", str(tmp_path / "nope.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert run(["report", "--since", "a week", "--db", str(tmp_path / "x")]) == 2
    assert "--since 'a week'" in capsys.readouterr().err
    assert run(["report", "--format", "pdf", "--db", str(tmp_path / "x")]) == 2


def test_unwritable_out_names_the_given_file(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = "/proc/orch-no-such-dir/ntp.html"  # /proc refuses new entries even for root
    assert run(["report", "--db", str(db), "--format", "html", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orch: error: --out {out}: cannot write there"), err
    assert len(err.strip().splitlines()) == 1
    assert ".tmp" not in err and "Traceback" not in err


@pytest.mark.parametrize("since", ["0d", "0.0h"])
def test_zero_since_is_an_input_error(
    db: Path, since: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", "--db", str(db), "--since", since]) == 2
    err = capsys.readouterr().err
    assert f"--since '{since}': must be longer than zero" in err and "Traceback" not in err


@pytest.mark.parametrize("columns", [80, 200])
def test_table_fits_the_terminal_without_cutting_names_or_verdicts(
    db: Path, columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    assert run(["report", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= columns
    assert "…" not in out  # rich's mark for a cell cut short
    for d in run_verdicts(2):
        assert d.host in out and d.verdict.value in out
    # wide terminals keep every column; narrow ones drop site/platform/peer first
    assert ("Platform" in out) is (columns == 200)


def test_table_prints_reasons_literally_not_as_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    monkeypatch.setenv("COLUMNS", "250")  # one line per device
    reason = "could not read the device: no route to [fd00::1]:22 [bold]"
    verdict = dataclasses.replace(run_verdicts(0)[0], reason=reason)
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        store.save_run([verdict], started_at=time.time() - 5, finished_at=time.time())
    run(["report", "--db", str(path)])
    assert reason in capsys.readouterr().out


def test_out_naming_a_directory_says_so(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "reports"
    target.mkdir()
    assert run(["report", "--db", str(db), "--format", "csv", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"orch: error: --out {target}: is a directory (give a file name in it)\n"
    assert list(target.iterdir()) == []  # no temporary file left behind


def test_table_leaves_out_columns_no_device_filled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    monkeypatch.setenv("COLUMNS", "200")
    empty = dataclasses.replace(
        run_verdicts(0)[0], peer=None, offset_ms=None, stratum=None, reach=None
    )
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        store.save_run([empty], started_at=time.time() - 5, finished_at=time.time())
    run(["report", "--db", str(path)])
    header = next(line for line in capsys.readouterr().out.splitlines() if "Host" in line)
    assert "Verdict" in header and "Reason" in header
    assert not any(name in header for name in ("Peer", "Offset ms", "Reach"))


def test_table_reason_does_not_repeat_the_device_of_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    monkeypatch.setenv("COLUMNS", "250")
    base = run_verdicts(0)[0]
    reason = f"could not read the device: {base.host} (10.1.1.1:22): connect: refused"
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        verdict = dataclasses.replace(base, reason=reason)
        store.save_run([verdict], started_at=time.time() - 5, finished_at=time.time())
    run(["report", "--db", str(path)])
    out = capsys.readouterr().out
    assert "could not read the device: connect: refused" in out and "10.1.1.1:22" not in out
    run(["report", "--db", str(path), "--format", "csv"])  # the stored reason is whole
    assert reason in capsys.readouterr().out


def test_html_on_a_terminal_asks_for_out_and_prints_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_cmd, "stdout_is_terminal", lambda: True)
    assert run(["report", "--db", str(db), "--format", "html"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "orch: error: --format html on a terminal: give --out FILE "
        "(or redirect: orch report --format html > report.html)\n"
    )
    # --out still writes the page, and other formats still print on the terminal.
    out = tmp_path / "ntp.html"
    assert run(["report", "--db", str(db), "--format", "html", "--out", str(out)]) == 1
    assert out.read_text().lstrip().lower().startswith("<!doctype html")
    assert run(["report", "--db", str(db), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["noncompliant"] == 1


def test_html_to_a_pipe_prints_the_page(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_cmd, "stdout_is_terminal", lambda: False)
    assert run(["report", "--db", str(db), "--format", "html"]) == 1
    page = capsys.readouterr().out
    assert page.lstrip().lower().startswith("<!doctype html") and "sw9" in page
