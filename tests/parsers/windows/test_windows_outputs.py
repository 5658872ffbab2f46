"""w32tm parsers beyond the capture cases: error messages and the peer-state rules.

The case files next to this module cover the published captures (among them verbose
and localised `/query /peers` with Pending peers). The peer-state rules are also
checked here on normaliser rows (the template's own output shape).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ParseError
from orchestrator.parsing import parse_output
from orchestrator.parsing.normalise_windows import NORMALISERS
from orchestrator.parsing.types import RowError

# w32tm's error line, as printed for `w32tm /register` without rights
# (https://datahunter.org/w32tm); /query prints the same shape when W32Time is stopped.
W32TM_ERROR = "The following error occurred: Access is denied. (0x80070005)\n"


@pytest.mark.parametrize(
    "command", ["w32tm /query /status", "w32tm /query /source", "w32tm /query /peers"]
)
def test_w32tm_error_line_is_a_parse_error_not_a_source(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_output("windows", command, W32TM_ERROR)
    assert (caught.value.platform, caught.value.command, caught.value.line) == (
        "windows",
        command,
        1,
    )


def test_status_cut_after_its_first_line_is_refused() -> None:
    case = Path(__file__).parent / "w32tm_query_status" / "checkntp_short_domain_member.raw"
    first_line = case.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    with pytest.raises(ParseError):
        parse_output("windows", "w32tm /query /status", first_line)


def _peer_row(**values: str) -> dict[str, str]:
    row = dict.fromkeys(
        (
            "NO_PEERS",
            "PEER",
            "STATE",
            "TIME_REMAINING",
            "MODE",
            "STRATUM",
            "PEER_POLL",
            "PEER_POLL_SECONDS",
            "HOST_POLL",
            "HOST_POLL_SECONDS",
            "LAST_SYNC",
            "LAST_SYNC_ERROR",
            "VALID_DATA_COUNTER",
            "REACHABILITY",
        ),
        "",
    )
    row.update(values)
    return row


peers = NORMALISERS["windows_w32tm_query_peers"]


def test_pending_peer_is_unreachable_and_flags_are_dropped() -> None:
    result = peers([_peer_row(PEER="time.windows.com,0x9", STATE="Pending", STRATUM="0")])
    assert isinstance(result, list)
    (peer,) = result
    assert (peer.address, peer.state, peer.stratum, peer.selected) == (
        "time.windows.com",
        "unreachable",
        None,
        False,
    )


def test_verbose_reachability_is_decimal() -> None:
    result = peers(
        [
            _peer_row(PEER="dc1,0x8", STATE="Active", REACHABILITY="255", HOST_POLL_SECONDS="512"),
            _peer_row(PEER="dc2,0x8", STATE="Active", REACHABILITY="0"),
        ]
    )
    assert isinstance(result, list)
    assert [(p.reach, p.state, p.poll_s) for p in result] == [
        (255, "candidate", 512),
        (0, "unreachable", None),
    ]


def test_no_peers_is_an_empty_list() -> None:
    assert peers([_peer_row(NO_PEERS="0")]) == []


def test_reachability_beyond_the_register_names_the_row() -> None:
    with pytest.raises(RowError) as caught:
        peers([_peer_row(PEER="a", STATE="Active"), _peer_row(PEER="b", REACHABILITY="256")])
    assert caught.value.row == 1


# The "Local CMOS Clock" source as Windows prints it in other languages, quoted from
# Microsoft's localised documentation of `w32tm /query /source` / `/status /verbose`
# (learn.microsoft.com de-de, fr-fr, es-es: "Windows Server 2016 accurate time" and
# "Time sync for Windows VMs in Azure").
@pytest.mark.parametrize("source", ["Lokale CMOS-Uhr", "Horloge CMOS locale", "Reloj CMOS local"])
def test_localised_local_cmos_clock_is_no_time_source(source: str) -> None:
    status = parse_output("windows", "w32tm /query /source", f"{source}\n").status
    assert status is not None
    assert (status.synchronized, status.reference) == (False, None)


@pytest.mark.parametrize("source", ["cmos-ntp.example.net,0x9", "ntp1.cmos.example.org"])
def test_a_server_whose_name_contains_cmos_is_a_time_source(source: str) -> None:
    status = parse_output("windows", "w32tm /query /source", f"{source}\n").status
    assert status is not None and status.synchronized
    assert status.reference == source.split(",")[0]


def test_a_prompt_line_alone_is_not_a_time_source() -> None:
    # A pasted session: the command line, its answer, the next prompt.
    text = "C:\\Users\\admin>w32tm /query /source\ntime.windows.com,0x9\n\nC:\\Users\\admin>\n"
    status = parse_output("windows", None, text).status
    assert status is not None
    assert (status.synchronized, status.reference) == (True, "time.windows.com")
    with pytest.raises(ParseError):
        parse_output("windows", "w32tm /query /source", "C:\\Users\\admin>\n")


def test_another_commands_sentence_is_not_a_time_source() -> None:
    # What `w32tm /config ... /update` answers (public GitHub note '# Configure Windows
    # NTP', search-index file id 20302125170): not the name of a time source.
    with pytest.raises(ParseError):
        parse_output("windows", "w32tm /query /source", "The command completed successfully.\n")


# de-DE errors as w32tm prints them (Linuxfabrik/monitoring-plugins
# check-plugins/ntp-w32tm/unit-test/stdout/de-service-not-running and de-access-denied).
@pytest.mark.parametrize(
    "text",
    [
        "Folgender Fehler ist aufgetreten: Der Dienst wurde nicht gestartet. (0x80070426)\n",
        "Folgender Fehler ist aufgetreten: Zugriff verweigert (0x80070005)\n",
    ],
)
@pytest.mark.parametrize(
    "command", ["w32tm /query /status", "w32tm /query /source", "w32tm /query /peers"]
)
def test_localised_w32tm_error_is_a_parse_error(command: str, text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_output("windows", command, text)
    assert caught.value.line == 1
