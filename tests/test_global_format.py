"""Every command accepts or clearly refuses every global --format value: never an
internal error (exit 3 with a traceback-ish 'internal error' line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.reports import FORMATS

ALL_FORMATS = (*FORMATS, "xml")


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize(
    "command",
    [
        ["server", "status"],
        ["parse", "{raw}", "--platform", "cisco_ios"],
        ["report", "--db", "{db}"],
        ["inventory", "show"],
    ],
)
def test_global_format_is_accepted_or_refused_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    raw = tmp_path / "assoc.txt"
    raw.write_text(
        "  address         ref clock       st   when   poll reach  delay  offset   disp\n"
        "*~10.10.10.1      127.127.1.1      1     27     64   377  1.000  -0.500  2.710\n"
        " * sys.peer, # selected, + candidate, - outlyer, x falseticker, ~ configured\n"
    )
    args = [a.format(raw=raw, db=tmp_path / "none.sqlite") for a in command]
    code = run(["-f", fmt, *args])
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, err
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
