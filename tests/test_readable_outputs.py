"""What a person reads: reach in octal, chrony's offset sign and error bound labelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.app import run

CAPTURES = Path(__file__).parent / "parsers"
CHRONY = CAPTURES / "linux" / "chronyc_-n_sources" / "aws_chrony_verbose_amazon_time_sync.raw"


def test_parse_json_keeps_reach_in_both_forms_and_names_chrony_error_bound(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["parse", str(CHRONY), "--platform", "linux"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["associations"]
    assert (row["reach"], row["reach_octal"]) == (0o17, "17")
    # chrony's "+/- 44ms" is an error bound, never called jitter
    assert row["error_bound_ms"] == 44.0 and row["jitter_ms"] is None
    assert "RFC 5905 sign" in doc["note"] and "opposite sign" in doc["note"]


def test_parse_table_shows_reach_octal_and_the_labels(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run(["parse", str(CHRONY), "--platform", "linux", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "err±" in out and "jitter" not in out and "reach octal" in out
    row = next(line for line in out.splitlines() if "169.254.169.123" in line)
    assert " 17 " in row and " 15 " not in row  # 0o17, not its decimal value
