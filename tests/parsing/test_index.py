"""The clitable index: ntc-templates format, abbreviations, and textfsm compatibility."""

from __future__ import annotations

import io

import pytest
import textfsm
from textfsm import clitable

from orchestrator.parsing import templates
from orchestrator.parsing.registry import normalisers
from orchestrator.parsing.templates import (
    find_entry,
    index_entries,
    parse_index,
    templates_dir,
)


@pytest.mark.parametrize(
    ("platform", "typed", "canonical"),
    [
        ("cisco_ios", "sh ntp a", "show ntp associations"),
        ("cisco_ios", "show  ntp  assoc", "show ntp associations"),
        ("cisco_ios", "sh ntp as d", "show ntp associations detail"),
        ("cisco_ios", "show run | i ntp", "show running-config | include ntp"),
        ("cisco_ios", "show running-config | include ^ntp", "show running-config | include ntp"),
        ("cisco_xe", "show running-config | section ntp", "show running-config | include ntp"),
        ("cisco_xr", "sh ntp st", "show ntp status"),
        ("cisco_nxos", "show ntp peer-s", "show ntp peer-status"),
    ],
)
def test_abbreviated_commands_find_their_template(
    platform: str, typed: str, canonical: str
) -> None:
    entry = find_entry(platform, typed)
    assert entry is not None and entry.canonical_command == canonical


def test_commands_match_in_full_not_as_prefix() -> None:
    assert find_entry("cisco_ios", "show ntp associations detail") != find_entry(
        "cisco_ios", "show ntp associations"
    )
    assert find_entry("cisco_ios", "show ntp associationsx") is None
    assert find_entry("cisco_iosx", "show ntp status") is None


def test_textfsm_clitable_reads_our_index_and_picks_the_same_templates() -> None:
    # clitable matches commands as prefixes, so this also checks the index ordering rule
    # (longest template name first) that keeps ntc-templates users safe.
    table = clitable.CliTable("index", str(templates_dir()))
    for entry in index_entries():
        if not entry.platform.pattern.isidentifier():
            continue
        row = table.index.GetRowMatch(
            {"Platform": entry.platform_text, "Command": entry.canonical_command}
        )
        assert row, f"clitable finds nothing for {entry.platform_text} {entry.canonical_command}"
        assert table.index.index[row]["Template"] == entry.template


def _states(stem: str) -> dict[str, list[textfsm.TextFSMRule]]:
    text = (templates_dir() / f"{stem}.textfsm").read_text(encoding="utf-8")
    states: dict[str, list[textfsm.TextFSMRule]] = textfsm.TextFSM(io.StringIO(text)).states
    return states


def _ends_with_error(rules: list[textfsm.TextFSMRule]) -> bool:
    return bool(rules) and (rules[-1].match, rules[-1].line_op) == ("^.", "Error")


def test_every_template_ends_with_error_and_has_a_normaliser() -> None:
    for stem in sorted({e.stem for e in index_entries()}):
        states = [rules for name, rules in _states(stem).items() if name != "EOF"]
        assert _ends_with_error(states[-1]), f"{stem}.textfsm must end with '^. -> Error'"
        assert stem in normalisers(), f"{stem} has no normaliser"


def test_every_state_of_the_cisco_templates_ends_with_error() -> None:
    # Stricter than the ntc-templates rule: a state whose rules all miss a line would
    # otherwise skip that line silently.
    for stem in sorted({e.stem for e in index_entries() if e.stem.startswith("cisco_")}):
        for name, rules in _states(stem).items():
            if name == "EOF":  # an empty EOF state only suppresses the implicit record
                assert not rules, f"{stem}.textfsm: EOF state must be empty"
            else:
                assert _ends_with_error(rules), f"{stem}.textfsm: state {name} lacks '^. -> Error'"


def test_index_header_is_required() -> None:
    with pytest.raises(Exception, match="header"):
        parse_index("Template, Platform\nx.textfsm, cisco_ios\n")


def test_canonical_command_spells_out_abbreviations_and_alternatives() -> None:
    (entry,) = parse_index(
        "Template, Hostname, Platform, Command\n"
        "t.textfsm, .*, p, sh[[ow]] run[[ning-config]] \\| (i[[nclude]]|s[[ection]]) ntp\n"
    )
    assert entry.canonical_command == "show running-config | include ntp"
    assert entry.command.fullmatch("sh run | s ntp")


def test_packaged_templates_directory_is_found() -> None:
    assert (templates_dir() / "index").is_file()
    assert {"cisco_ios", "cisco_xe", "cisco_xr", "cisco_nxos"} <= set(templates.platforms())
