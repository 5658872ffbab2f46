"""parse_output / guess_command / ParsedOutput on real captures."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from orchestrator.parsing import guess_command, parse_output
from parsing.captures import (
    IOS_12X,
    IOS_CONFIG_WITH_KEY,
    IOS_IPV6,
    IOS_STATUS,
    NXOS_PEER_STATUS,
    capture,
)


def test_json_shape_for_associations() -> None:
    doc = parse_output("cisco_xe", None, capture(IOS_IPV6)).to_json_dict()
    assert list(doc) == ["platform", "command", "associations"]
    assert doc["command"] == "show ntp associations"
    first = doc["associations"][0]
    assert first["address"] == "2001:DB8::EEE8"  # napalm reads this as "2001"
    assert (first["offset_ms"], first["reach"], first["jitter_ms"]) == (-2.107, 255, None)
    json.dumps(doc)  # plain JSON types only


def test_json_shape_for_status() -> None:
    doc = parse_output("cisco_ios", "show ntp status", capture(IOS_STATUS)).to_json_dict()
    assert list(doc) == ["platform", "command", "status"]
    assert doc["status"]["synchronized"] is True
    assert doc["status"]["reference"] == "10.16.2.2"  # trailing spaces in the capture


def test_legacy_legend_maps_tally_codes_by_their_12x_meaning() -> None:
    rows = parse_output("cisco_ios", None, capture(IOS_12X)).associations
    assert rows is not None
    assert [(a.address, a.state, a.selected) for a in rows] == [
        ("192.168.13.57", "sys.peer", True),
        ("172.31.32.2", "configured", False),
        ("192.168.13.33", "candidate", False),
    ]


def test_nxos_has_no_offset_column_so_offset_is_none_not_zero() -> None:
    rows = parse_output("cisco_nxos", None, capture(NXOS_PEER_STATUS)).associations
    assert rows and all(a.offset_ms is None for a in rows)
    assert rows[0].delay_ms == 13.11  # printed in seconds: 0.01311


def test_key_values_never_leave_the_parser() -> None:
    text = capture(IOS_CONFIG_WITH_KEY)
    secret = "15435A030726242723273C21181319000A"
    assert secret in text
    parsed = parse_output("cisco_ios", "show running-config | include ntp", text)
    assert secret not in json.dumps(parsed.to_json_dict())
    assert secret not in repr(parsed)


def test_guess_uses_the_echoed_command_when_two_commands_share_a_template() -> None:
    text = "R1#show ntp config\nntp server 192.0.2.1\n"
    assert guess_command("cisco_xe", text) == "show ntp config"
    assert guess_command("cisco_xe", "ntp server 192.0.2.1\n") == (
        "show running-config | include ntp"
    )


def test_parsing_from_threads_gives_the_same_result() -> None:
    text = capture(IOS_IPV6)
    expected = parse_output("cisco_xe", None, text)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: parse_output("cisco_xe", None, text), range(40)))
    assert all(r == expected for r in results)


def test_ntp_not_enabled_means_no_associations_and_not_synchronised() -> None:
    # IOS answers both commands with this one line when no ntp command is configured;
    # Tenable's Cisco NTP plugins (github.com/blackhook/nessus-plugins, C/cisco-sa-*ntp*)
    # test `show ntp status` output for exactly this string.
    text = "Router#show ntp associations\n%NTP is not enabled.\n"
    assert parse_output("cisco_ios", None, text).associations == ()
    status = parse_output("cisco_ios", "show ntp status", "%NTP is not enabled.\n").status
    assert status is not None and status.synchronized is False and status.stratum is None


def test_status_never_updated_is_unsynchronised_without_last_sync() -> None:
    # IOS prints "never updated." until NTP first sets the clock (IOS-XR prints the same
    # words without the dot: genieparser iosxr ShowNtpStatus golden_output_3, a case here).
    text = (
        "Clock is unsynchronized, stratum 16, no reference clock\n"
        "reference time is 00000000.00000000 (00:00:00.000 UTC Mon Jan 1 1900)\n"
        "loopfilter state is 'FSET' (Drift set from file), drift is 0.000000000 s/s\n"
        "system poll interval is 64, never updated.\n"
    )
    status = parse_output("cisco_ios", "show ntp status", text).status
    assert status is not None
    assert (status.synchronized, status.stratum, status.last_sync) == (False, 16, None)
