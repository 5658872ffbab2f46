"""`orch parse` end to end through the real CLI entry point (exit codes included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from parsing.captures import CASES, IOS_IPV6, IOS_STATUS


def test_one_file_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["parse", str(CASES / IOS_IPV6), "--platform", "cisco_xe"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "show ntp associations"
    assert len(doc["associations"]) == 2


def test_several_files_print_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(CASES / IOS_IPV6), str(CASES / IOS_STATUS)]
    assert run(["parse", *files, "--platform", "cisco_ios"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["command"] for d in docs] == ["show ntp associations", "show ntp status"]


def test_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["parse", str(CASES / IOS_IPV6), "--platform", "cisco_xe", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "2001:DB8::EEE8" in out and "sys.peer" in out


def test_unparseable_file_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    good = (CASES / IOS_STATUS).read_text().rstrip()
    bad.write_text(good + "\nthis is not IOS output\n")
    bad_line = len(good.splitlines()) + 1
    assert run(["parse", str(bad), "--platform", "cisco_ios", "--command", "show ntp status"]) == 2
    captured = capsys.readouterr()
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1
    assert str(bad) in err_lines[0] and f"line {bad_line}:" in err_lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.txt"
    assert run(["parse", str(missing), "--platform", "cisco_ios"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file" in err and str(missing) in err


def test_ios_association_table_rows_fit_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Twelve columns of an IPv4 `show ntp associations` fit an 80-column terminal
    # (one space between columns) instead of wrapping every row.
    capture = CASES / "cisco_ios/show_ntp_associations/muninn_1054_catalyst3750x_ios15.raw"
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["parse", str(capture), "--platform", "cisco_ios", "-f", "table"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "192.0.2.1" in line]
    assert len(rows) == 2 and all(len(row) <= 80 for row in rows), rows
    assert "sys.peer" in rows[1] and "1.303" in rows[0]


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-16-le", b"\xff\xfe"), ("utf-8", b"\xef\xbb\xbf")]
)
def test_windows_saved_output_with_a_byte_order_mark_parses(
    encoding: str, bom: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `w32tm /query /peers > peers.txt` in Windows PowerShell 5 writes UTF-16LE with a BOM
    # and CRLF line ends; `Out-File -Encoding utf8` writes a UTF-8 BOM.
    capture = CASES / "windows/w32tm_query_peers/bolt_workshop_five_peers.raw"
    assert run(["parse", str(capture), "--platform", "windows"]) == 0
    expected = json.loads(capsys.readouterr().out)
    saved = tmp_path / "peers.txt"
    saved.write_bytes(bom + capture.read_text().replace("\n", "\r\n").encode(encoding))
    assert run(["parse", str(saved), "--platform", "windows"]) == 0
    assert json.loads(capsys.readouterr().out) == expected


def test_a_global_format_parse_does_not_have_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    capture = CASES / IOS_IPV6
    assert run(["-f", "html", "parse", str(capture), "--platform", "cisco_ios"]) == 2
    assert capsys.readouterr().err == "orch: error: --format 'html': choose one of json, table\n"
    assert run(["-f", "table", "parse", str(capture), "--platform", "cisco_xe"]) == 0
