"""Every verdict of the pure evaluator, from real-format device states."""

from __future__ import annotations

import dataclasses

import pytest

from compliance.compliance_samples import (
    OTHER_SERVER,
    OUR_SERVER,
    catos_state,
    chrony_state,
    host,
    ios_assoc,
    ios_state,
    windows_state,
)
from orchestrator.compliance import evaluate, index_client_log, reach_count, unknown_clients
from orchestrator.models import ClientLogEntry, DeviceState, DeviceVerdict, Thresholds, Verdict

NOW = 1_800_000_000.0


def polled(address: str = "10.1.1.1", *, ago_s: float = 30.0) -> dict[str, ClientLogEntry]:
    entry = ClientLogEntry(address, NOW - 86400, NOW - ago_s, 120, 120, 0, 0, None)
    return index_client_log([entry])


def failing(v: DeviceVerdict) -> list[str]:
    return [c.name for c in v.checks if c.status == "fail"]


def test_synchronised_ios_router_is_compliant_with_evidence() -> None:
    state = ios_state()
    v = evaluate(host(), state, polled(), now=NOW)
    assert v.verdict is Verdict.COMPLIANT and v.complies
    assert failing(v) == []
    assert v.peer == OUR_SERVER and v.offset_ms == -0.5 and v.stratum == 2
    assert v.reach == 0o377
    assert v.state is state and dict(state.raw)["show ntp associations"].count("*~") == 1
    assert {c.name for c in v.checks} >= {
        "configured-servers",
        "synchronised",
        "offset",
        "server-log",
    }


def test_chrony_and_windows_hosts_are_compliant() -> None:
    lnx = evaluate(host("lnx1", "linux"), chrony_state(), None, now=NOW)
    assert lnx.verdict is Verdict.COMPLIANT, lnx.reason
    assert lnx.offset_ms == pytest.approx(-0.136)
    win = evaluate(host("win1", "windows"), windows_state(), None, now=NOW)
    assert win.verdict is Verdict.COMPLIANT, win.reason
    assert win.peer == OUR_SERVER  # "10.10.10.1,0x8" loses its mode flag
    offset_check = next(c for c in win.checks if c.name == "offset")
    assert offset_check.status == "not measured" and not offset_check.passed
    assert "w32tm" in offset_check.actual


def test_checks_the_platform_cannot_measure_are_not_measured_never_pass() -> None:
    cat = evaluate(host("cat1", "cisco_catos"), catos_state(), None, now=NOW)
    win = evaluate(host("win1", "windows"), windows_state(), None, now=NOW)
    cat_checks = {c.name: c for c in cat.checks}
    win_checks = {c.name: c for c in win.checks}
    assert cat_checks["offset"].status == "not measured"
    assert "CatOS 'show ntp' prints no offset" in cat_checks["offset"].actual
    assert win_checks["reach"].status == "not measured"
    assert "reach register" in win_checks["reach"].actual
    for check in (cat_checks["offset"], win_checks["reach"]):
        assert not check.passed and not check.measured
    # The verdict rests on what was measured, and says what was not.
    assert cat.verdict is Verdict.COMPLIANT and "offset" in cat.reason
    assert "not measured" in cat.reason
    assert win.verdict is Verdict.COMPLIANT and "reach" in win.reason


def test_a_measured_failure_decides_even_beside_unmeasured_checks() -> None:
    strict = host("win1", "windows", thresholds=Thresholds(max_stratum=2))
    v = evaluate(strict, windows_state(), None, now=NOW)
    assert v.verdict is Verdict.DRIFTING and failing(v) == ["stratum"]
    assert {c.name for c in v.checks if not c.measured} == {"offset", "reach"}


def test_ssh_failure_is_unreachable_and_names_the_error() -> None:
    v = evaluate(host(), None, None, now=NOW, connection_error="authentication failed for admin")
    assert v.verdict is Verdict.UNREACHABLE and not v.complies
    assert "authentication failed" in v.reason
    assert v.checks[0].expected == "device state read over SSH"


def test_offset_beyond_threshold_is_drifting() -> None:
    v = evaluate(host(), ios_state(offset_ms=-250.3), None, now=NOW)
    assert v.verdict is Verdict.DRIFTING
    assert "-250.3 ms exceeds the 100 ms policy" in v.reason
    check = next(c for c in v.checks if c.name == "offset")
    assert (check.expected, check.actual) == ("|offset| <= 100 ms", "-250.3 ms")


def test_stratum_above_policy_is_drifting() -> None:
    v = evaluate(host(thresholds=Thresholds(max_stratum=4)), ios_state(st=5), None, now=NOW)
    assert v.verdict is Verdict.DRIFTING
    assert failing(v) == ["stratum"] and "stratum 6" in v.reason


def test_reach_below_policy_counts_answered_polls_not_the_octal_value() -> None:
    # 017 octal = 15 decimal but only 4 answered polls; 360 = 4 answered too.
    assert reach_count(0o17) == 4 and reach_count(0o360) == 4 and reach_count(0o377) == 8
    ok = evaluate(host(), ios_state(reach_octal="17"), None, now=NOW)
    assert ok.verdict is Verdict.COMPLIANT
    v = evaluate(host(), ios_state(reach_octal="7"), None, now=NOW)
    assert v.verdict is Verdict.DRIFTING and failing(v) == ["reach"]
    assert "only 3 of the last 8 polls" in v.reason


def test_reach_zero_to_our_server_is_unsynchronised_with_network_hint() -> None:
    v = evaluate(host(), ios_state(synced=False, reach_octal="0"), None, now=NOW)
    assert v.verdict is Verdict.UNSYNCHRONISED
    assert "no answer from 10.10.10.1 (reach 0)" in v.reason and "UDP 123" in v.reason


def test_answering_but_not_yet_selected_says_wait() -> None:
    v = evaluate(host(), ios_state(synced=False, reach_octal="3"), None, now=NOW)
    assert v.verdict is Verdict.UNSYNCHRONISED
    assert "answers (reach 3)" in v.reason and "--wait" in v.reason


def test_synced_to_another_server_is_synced_elsewhere() -> None:
    state = ios_state()
    other = ios_assoc(OTHER_SERVER, ".GPS.", 1, 12, 64, "377", 2.0, 0.3, 1.0, "*")
    ours = dataclasses.replace(state.associations[0], selected=False, state="candidate")
    state = dataclasses.replace(
        state,
        associations=(ours, other),
        configured=dataclasses.replace(state.configured),
    )
    v = evaluate(host(), state, None, now=NOW)
    assert v.verdict is Verdict.SYNCED_ELSEWHERE
    assert v.reason.startswith(f"synchronised to {OTHER_SERVER}, not to {OUR_SERVER}")


def test_configured_servers_differ_is_misconfigured() -> None:
    state = ios_state(configured=(OUR_SERVER, OTHER_SERVER))
    v = evaluate(host(), state, None, now=NOW)
    assert v.verdict is Verdict.MISCONFIGURED
    assert f"unexpected {OTHER_SERVER}" in v.reason and "orch push --host rtr1" in v.reason
    missing = evaluate(host(), ios_state(configured=()), None, now=NOW)
    assert missing.verdict is Verdict.MISCONFIGURED and f"missing {OUR_SERVER}" in missing.reason


def test_access_group_without_peer_type_blocks() -> None:
    state = ios_state(
        synced=False, reach_octal="0", access_groups=("ntp access-group serve-only 10",)
    )
    v = evaluate(host(), state, None, now=NOW)
    assert v.verdict is Verdict.BLOCKED
    assert "grants no 'peer' access" in v.reason
    check = next(c for c in v.checks if c.name == "access-group")
    assert check.actual == "ntp access-group serve-only 10"


def _with_acls(state: DeviceState, acl_lines: tuple[str, ...] | None) -> DeviceState:
    return dataclasses.replace(
        state, configured=dataclasses.replace(state.configured, acl_lines=acl_lines)
    )


def test_access_group_peer_acl_not_read_may_block() -> None:
    state = ios_state(synced=False, reach_octal="0", access_groups=("ntp access-group peer 10",))
    v = evaluate(host(), state, None, now=NOW)
    assert v.verdict is Verdict.BLOCKED
    assert "may block" in v.reason and "permit the server in ACL 10" in v.reason


def test_access_group_peer_acl_that_denies_our_server_blocks() -> None:
    state = ios_state(synced=False, reach_octal="0", access_groups=("ntp access-group peer 10",))
    denies = ("access-list 10 permit 192.0.2.0 0.0.0.255", "access-list 10 deny any")
    v = evaluate(host(), _with_acls(state, denies), None, now=NOW)
    assert v.verdict is Verdict.BLOCKED
    assert f"blocks {OUR_SERVER}: ACL 10 does not permit it" in v.reason


@pytest.mark.parametrize(
    "acl_lines",
    [
        (f"access-list 10 permit host {OUR_SERVER}",),
        ("access-list 10 remark ntp", f"access-list 10 permit {OUR_SERVER} 0.0.0.255"),
        (),  # read, and ACL 10 is not defined: IOS treats it as permit any
    ],
)
def test_access_group_whose_acl_permits_us_is_not_the_reason(
    acl_lines: tuple[str, ...],
) -> None:
    state = ios_state(synced=False, reach_octal="0", access_groups=("ntp access-group peer 10",))
    v = evaluate(host(), _with_acls(state, acl_lines), None, now=NOW)
    assert v.verdict is Verdict.UNSYNCHRONISED, v.reason  # the server, not the ACL
    check = next(c for c in v.checks if c.name == "access-group")
    assert check.passed and "ACL 10 permits" in check.actual


def test_access_group_that_permits_us_is_fine() -> None:
    state = ios_state(access_groups=("ntp access-group peer 10",))
    v = evaluate(host(), state, None, now=NOW)
    assert v.verdict is Verdict.COMPLIANT


def test_windows_domain_policy_blocks_even_when_synchronised() -> None:
    v = evaluate(host("win1", "windows"), windows_state(domain_policy=True), None, now=NOW)
    assert v.verdict is Verdict.BLOCKED
    assert "domain policy" in v.reason and "GPO" in v.reason


def test_claims_sync_to_us_but_never_polled_us() -> None:
    other_client = polled("10.9.9.9")
    v = evaluate(host(), ios_state(), other_client, now=NOW)
    assert v.verdict is Verdict.SYNCED_ELSEWHERE
    assert "client log shows never from 10.1.1.1" in v.reason
    stale = evaluate(host(), ios_state(), polled(ago_s=10_000), now=NOW)
    assert stale.verdict is Verdict.SYNCED_ELSEWHERE and "last request at" in stale.reason


def test_client_address_override_is_used_for_the_log() -> None:
    h = host(data=(("ntp_client_address", "10.255.0.1"),))
    v = evaluate(h, ios_state(), polled("10.255.0.1"), now=NOW)
    assert v.verdict is Verdict.COMPLIANT


def test_no_client_log_skips_the_two_sided_check() -> None:
    v = evaluate(host(), ios_state(), None, now=NOW)
    assert v.verdict is Verdict.COMPLIANT
    assert "server-log" not in {c.name for c in v.checks}


def test_precedence_reports_the_first_thing_to_fix() -> None:
    # Misconfigured and drifting at once: the configuration comes first.
    state = ios_state(configured=(OTHER_SERVER,), offset_ms=900.0)
    v = evaluate(host(), state, None, now=NOW)
    assert v.verdict is Verdict.MISCONFIGURED
    assert set(failing(v)) >= {"configured-servers", "offset"}


def test_unknown_clients_lists_pollers_outside_the_inventory() -> None:
    log = index_client_log(
        [
            ClientLogEntry("10.1.1.1", NOW - 900, NOW - 10, 5, 5, 0, 0, None),
            ClientLogEntry("10.66.0.7", NOW - 900, NOW - 20, 9, 9, 0, 0, None),
            ClientLogEntry("10.66.0.8", NOW - 99_000, NOW - 90_000, 9, 9, 0, 0, None),
        ]
    )
    found = unknown_clients([host()], log, now=NOW)
    assert [e.address for e in found] == ["10.66.0.7"]  # the stale one is history


def test_catos_names_no_peer_so_the_only_configured_server_is_inferred() -> None:
    h = host("cat1", "cisco_catos")
    v = evaluate(h, catos_state(), polled(), now=NOW)
    assert v.verdict is Verdict.COMPLIANT, v.reason
    assert v.peer == OUR_SERVER
    check = next(c for c in v.checks if c.name == "sync-peer")
    assert "inferred" in check.actual
    # The two-sided check matters most here: the log must show the device polling us.
    liar = evaluate(h, catos_state(), polled("10.9.9.9"), now=NOW)
    assert liar.verdict is Verdict.SYNCED_ELSEWHERE


def test_catos_with_a_foreign_server_configured_is_not_inferred_to_be_ours() -> None:
    v = evaluate(
        host("cat1", "cisco_catos"), catos_state(configured=(OTHER_SERVER,)), None, now=NOW
    )
    assert v.verdict is Verdict.MISCONFIGURED
    unsynced = evaluate(host("cat1", "cisco_catos"), catos_state(synced=False), None, now=NOW)
    assert unsynced.verdict is Verdict.UNSYNCHRONISED


def test_poll_window_follows_the_devices_own_poll_interval() -> None:
    state = ios_state()
    slow = dataclasses.replace(state.associations[0], poll_s=1024)
    state = dataclasses.replace(state, associations=(slow,))
    # Heard 2500 s ago: beyond the 2400 s default, within three 1024 s polls.
    assert evaluate(host(), state, polled(ago_s=2500), now=NOW).verdict is Verdict.COMPLIANT
    assert evaluate(host(), state, polled(ago_s=3500), now=NOW).verdict is Verdict.SYNCED_ELSEWHERE
    # w32time may poll every 32768 s and prints no poll interval in its short status.
    win = evaluate(host("win1", "windows"), windows_state(), polled(ago_s=20_000), now=NOW)
    assert win.verdict is Verdict.COMPLIANT, win.reason
