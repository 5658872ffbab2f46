"""The evaluator on states parsed by the real IOS driver from published captures.

Captures: NetworkLessons, "Cisco NTP Configuration" lesson (CoreRouter, SW1, SW2 on
IOS; `show ntp associations`, `show ntp status`, final configurations). The status of
an unsynchronised router ends "system poll interval is 64, never updated.".
"""

from __future__ import annotations

import dataclasses

from orchestrator.compliance import evaluate, index_client_log
from orchestrator.drivers import get_driver
from orchestrator.models import (
    ClientLogEntry,
    DesiredNtp,
    DeviceState,
    Host,
    NtpServerSpec,
    Thresholds,
    Verdict,
)
from orchestrator.store import redact_state

NOW = 1_404_737_000.0  # July 2014, when the captures were taken

SW2_ASSOCIATIONS = """
      address         ref clock     st  when  poll reach  delay  offset    disp
*~192.168.123.3    146.185.130.223   3    17    64   37     3.4    1.89   875.8
 * master (synced), # master (unsynced), + selected, - candidate, ~ configured
"""
SW2_STATUS = """Clock is synchronized, stratum 4, reference is 192.168.123.3
nominal freq is 119.2092 Hz, actual freq is 119.2084 Hz, precision is 2**18
reference time is D765274D.D51A0546 (14:03:57.832 UTC Mon Jul 7 2014)
clock offset is 1.8875 msec, root delay is 15.18 msec
root dispersion is 1038.39 msec, peer dispersion is 875.84 msec
"""
SW2_CONFIG = """ntp authenticate
ntp authentication-key 2 md5 NETWORKLESSONS2
ntp trusted-key 2
ntp server 192.168.123.3 key 2
"""
CORE_ASSOCIATIONS = """
  address         ref clock       st   when   poll reach  delay  offset   disp
 ~146.185.130.223 .INIT.          16      -     64     0  0.000   0.000 16000.
 * sys.peer, # selected, + candidate, - outlyer, x falseticker, ~ configured
"""
CORE_STATUS = """Clock is unsynchronized, stratum 16, no reference clock
nominal freq is 250.0000 Hz, actual freq is 250.0000 Hz, precision is 2**24
reference time is 00000000.00000000 (00:00:00.000 UTC Mon Jan 1 1900)
clock offset is 0.0000 msec, root delay is 0.00 msec
root dispersion is 0.16 msec, peer dispersion is 0.00 msec
loopfilter state is 'FSET' (Drift set from file), drift is 0.000000000 s/s
system poll interval is 64, never updated.
"""


def parse(assoc: str, status: str, config: str, name: str = "sw2") -> DeviceState:
    driver = get_driver("cisco_ios")
    return driver.parse(
        name,
        {
            "show running-config | include ^ntp": config,
            "show ntp associations": assoc,
            "show ntp status": status,
        },
    )


def host(server: str, *, hostname: str = "192.168.123.2", **policy: float) -> Host:
    return Host(
        name="sw2",
        hostname=hostname,
        platform="cisco_ios",
        port=22,
        username="admin",
        password=None,
        site="lab",
        groups=(),
        desired=DesiredNtp(
            servers=(NtpServerSpec(server),),
            thresholds=Thresholds(**policy),  # type: ignore[arg-type]
        ),
    )


def test_synchronised_switch_is_compliant_and_its_key_never_leaves_redaction() -> None:
    state = parse(SW2_ASSOCIATIONS, SW2_STATUS, SW2_CONFIG)
    log = index_client_log([ClientLogEntry("192.168.123.2", NOW - 900, NOW - 17, 9, 9, 0, 0, 2)])
    v = evaluate(host("192.168.123.3"), state, log, now=NOW)
    assert v.verdict is Verdict.COMPLIANT, v.reason
    assert (v.peer, v.stratum, v.reach) == ("192.168.123.3", 4, 0o37)
    assert v.offset_ms == 1.89  # the sys.peer row's offset
    stored = redact_state(state)
    assert "NETWORKLESSONS2" not in repr(stored.raw)


def test_reach_037_is_five_answered_polls() -> None:
    state = parse(SW2_ASSOCIATIONS, SW2_STATUS, SW2_CONFIG)
    ok = evaluate(host("192.168.123.3", min_reach=5), state, None, now=NOW)
    assert ok.verdict is Verdict.COMPLIANT
    v = evaluate(host("192.168.123.3", min_reach=6), state, None, now=NOW)
    assert v.verdict is Verdict.DRIFTING and "only 5 of the last 8 polls" in v.reason


def test_offset_policy_tighter_than_the_measured_offset_is_drifting() -> None:
    state = parse(SW2_ASSOCIATIONS, SW2_STATUS, SW2_CONFIG)
    v = evaluate(host("192.168.123.3", max_offset_ms=1.0), state, None, now=NOW)
    assert v.verdict is Verdict.DRIFTING and "offset 1.89 ms exceeds the 1 ms" in v.reason


def test_switch_pointed_at_another_server_is_misconfigured() -> None:
    state = parse(SW2_ASSOCIATIONS, SW2_STATUS, SW2_CONFIG)
    v = evaluate(host("10.10.10.1"), state, None, now=NOW)
    assert v.verdict is Verdict.MISCONFIGURED
    assert "missing 10.10.10.1; unexpected 192.168.123.3" in v.reason


def test_router_not_yet_answered_is_unsynchronised() -> None:
    state = parse(CORE_ASSOCIATIONS, CORE_STATUS, "ntp server 146.185.130.223\n", "core")
    v = evaluate(host("146.185.130.223"), state, None, now=NOW)
    assert v.verdict is Verdict.UNSYNCHRONISED
    assert "no answer from 146.185.130.223 (reach 0)" in v.reason


def test_serve_only_access_group_without_peer_blocks_the_unsynchronised_router() -> None:
    config = "ntp server 146.185.130.223\nntp access-group serve-only 12\n"
    state = parse(CORE_ASSOCIATIONS, CORE_STATUS, config, "core")
    assert state.configured.access_groups == ("ntp access-group serve-only 12",)
    v = evaluate(host("146.185.130.223"), state, None, now=NOW)
    assert v.verdict is Verdict.BLOCKED and "grants no 'peer' access" in v.reason


def test_peer_access_group_on_a_synchronised_switch_is_not_blocking() -> None:
    config = SW2_CONFIG + "ntp access-group peer 3\n"
    state = parse(SW2_ASSOCIATIONS, SW2_STATUS, config)
    v = evaluate(host("192.168.123.3"), state, None, now=NOW)
    assert v.verdict is Verdict.COMPLIANT
    check = next(c for c in v.checks if c.name == "access-group")
    assert check.passed and "permits" in check.actual


def test_parsed_state_claiming_us_without_polls_is_synced_elsewhere() -> None:
    state = parse(SW2_ASSOCIATIONS, SW2_STATUS, SW2_CONFIG)
    stranger = index_client_log([ClientLogEntry("10.0.0.9", NOW - 60, NOW - 5, 3, 3, 0, 0, None)])
    v = evaluate(host("192.168.123.3"), state, stranger, now=NOW)
    assert v.verdict is Verdict.SYNCED_ELSEWHERE
    moved = dataclasses.replace(host("192.168.123.3"), data=(("ntp_client_address", "10.0.0.9"),))
    assert evaluate(moved, state, stranger, now=NOW).verdict is Verdict.COMPLIANT
