"""Parser cases in the ntc-templates style, one test per real capture.

tests/parsers/<platform>/<command_slug>/<case>.raw is a real public capture;
<case>.yml beside it holds `source:` (where the capture was published) and
`parsed:` (the expected normalised JSON of `orch parse`). Every index entry must
have at least one case, so a template without a real capture fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.parsing import guess_command, parse_output
from orchestrator.parsing.templates import IndexEntry, command_slug, index_entries

CASES = Path(__file__).parent / "parsers"

# Index entries for which no public capture could be found yet. They stay visible as
# xfail (not pass) until a real capture is added; the reason says what the format rests on.
AWAITING_REAL_CAPTURE = {
    ("cisco_catos", "show_ntp"): "no public CatOS `show ntp` capture found; the template "
    "follows the Catalyst CatOS command-reference layout (see tests/parsing/test_catos.py)",
}


def _platforms_of(platform_pattern: str) -> list[str]:
    # Index platforms are regexes; cases are filed under literal platform ids.
    return [
        p.name for p in CASES.iterdir() if p.is_dir() and re.fullmatch(platform_pattern, p.name)
    ]


def _case_files() -> list[Path]:
    return sorted(CASES.glob("*/*/*.raw"))


def _load(raw: Path) -> dict[str, Any]:
    expected = raw.with_suffix(".yml")
    assert expected.exists(), f"{raw} has no {expected.name}"
    doc = yaml.safe_load(expected.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{expected}: expected a mapping"
    return doc


def _command_for(platform: str, slug: str) -> str:
    for entry in index_entries():
        if entry.platform.fullmatch(platform) and command_slug(entry.canonical_command) == slug:
            return entry.canonical_command
    raise AssertionError(f"no index entry for {platform} / {slug}")


@pytest.mark.parametrize(
    "raw", _case_files(), ids=lambda p: "/".join(p.relative_to(CASES).with_suffix("").parts)
)
def test_case_parses_to_expected(raw: Path) -> None:
    platform, slug = raw.parent.parent.name, raw.parent.name
    doc = _load(raw)
    assert str(doc.get("source", "")).strip(), f"{raw.with_suffix('.yml')}: no source"
    command = _command_for(platform, slug)
    text = raw.read_text(encoding="utf-8")

    parsed = parse_output(platform, command, text).to_json_dict()

    assert parsed == doc["parsed"]
    # The command is also recognised from the output's shape alone.
    assert guess_command(platform, text) == command


@pytest.mark.parametrize(
    "entry",
    index_entries(),
    ids=lambda e: f"{e.platform_text}/{command_slug(e.canonical_command)}",
)
def test_index_entry_has_a_case(entry: IndexEntry) -> None:
    slug = command_slug(entry.canonical_command)
    platforms = _platforms_of(entry.platform.pattern)
    cases = [raw for platform in platforms for raw in (CASES / platform / slug).glob("*.raw")]
    reason = AWAITING_REAL_CAPTURE.get((entry.platform_text, slug))
    if not cases and reason:
        pytest.xfail(reason)
    assert cases, (
        f"{entry.template} ({entry.platform_text} {entry.canonical_command!r}) has no real "
        f"capture under tests/parsers/<platform>/{slug}/"
    )


def test_every_case_directory_names_an_index_entry() -> None:
    for directory in sorted({raw.parent for raw in _case_files()}):
        _command_for(directory.parent.name, directory.name)
