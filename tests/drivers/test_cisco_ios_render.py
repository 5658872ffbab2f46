"""IOS plan rendering: pure, from `show running-config | include ^ntp` text."""

from __future__ import annotations

from orchestrator.drivers import get_driver
from orchestrator.drivers.base import Backup, Driver
from orchestrator.drivers.cisco_ios import (
    SHOW_ACLS,
    SHOW_NTP_CONFIG,
    CiscoIosDriver,
    decode_type7,
    removal_of,
)
from orchestrator.models import DesiredNtp, NtpKey, NtpServerSpec, Secret

IOS = CiscoIosDriver()


def _backup(text: str, acl: str | None = None) -> Backup:
    extra = [(SHOW_NTP_CONFIG, text)]
    if acl is not None:
        extra.append((SHOW_ACLS, acl))
    lines = tuple(ln for ln in text.splitlines() if ln.startswith("ntp "))
    return Backup("r1", "cisco_ios", lines, extra=tuple(extra))


def _plan(text: str, desired: DesiredNtp, acl: str | None = None):  # type: ignore[no-untyped-def]
    b = _backup(text, acl)
    return IOS.render(desired, IOS.current(b), b)


def test_registry_returns_ios_driver() -> None:
    driver: Driver = get_driver("cisco_ios")
    assert isinstance(driver, CiscoIosDriver)


def test_type7_decodes_published_sample() -> None:
    # The classic "cisco" sample from Cisco's own type-7 discussions.
    assert decode_type7("0822455D0A16") == "cisco"


def test_empty_device_gets_servers_and_calendar() -> None:
    desired = DesiredNtp((NtpServerSpec("192.0.2.10", prefer=True), NtpServerSpec("192.0.2.11")))
    plan = _plan("", desired)
    assert plan.commands == (
        "ntp server 192.0.2.10 iburst prefer",
        "ntp server 192.0.2.11 iburst",
        "ntp update-calendar",
    )
    assert "+ntp server 192.0.2.10 iburst prefer" in plan.diff


def test_compliant_device_is_noop() -> None:
    desired = DesiredNtp((NtpServerSpec("192.0.2.10"),), source_interface="Loopback0")
    text = "ntp source Loopback0\nntp server 192.0.2.10 iburst\nntp update-calendar\n"
    plan = _plan(text, desired)
    assert plan.is_noop and plan.diff == ""


def test_stale_server_removed_and_changed_server_reentered() -> None:
    desired = DesiredNtp((NtpServerSpec("192.0.2.10", prefer=True),), update_calendar=False)
    text = "ntp server 192.0.2.10 iburst\nntp server 198.51.100.7\n"
    plan = _plan(text, desired)
    # Re-entered over itself (IOS replaces the line of the same address), never removed
    # first: the device is not left without a server between the two lines.
    assert plan.commands == (
        "ntp server 192.0.2.10 iburst prefer",
        "no ntp server 198.51.100.7",
    )


def test_vrf_form_and_removal_identity() -> None:
    desired = DesiredNtp(
        (NtpServerSpec("192.0.2.10", iburst=False),), vrf="Mgmt-intf", update_calendar=False
    )
    plan = _plan("ntp server 192.0.2.10\n", desired)
    # Another vrf is another line: the new one is added before the old one goes.
    assert plan.commands == ("ntp server vrf Mgmt-intf 192.0.2.10", "no ntp server 192.0.2.10")
    assert removal_of("ntp server vrf Mgmt-intf ip 10.0.0.5 iburst key 10 prefer") == (
        "no ntp server vrf Mgmt-intf ip 10.0.0.5"
    )


def test_keys_compare_type7_and_never_show_secret() -> None:
    key = NtpKey(10, "md5", Secret("cisco"))
    desired = DesiredNtp(
        (NtpServerSpec("192.0.2.10", key_id=10),),
        keys=(key,),
        authenticate=True,
        update_calendar=False,
    )
    same = (
        "ntp authentication-key 10 md5 0822455D0A16 7\nntp authenticate\nntp trusted-key 10\n"
        "ntp server 192.0.2.10 iburst key 10\n"
    )
    assert _plan(same, desired).is_noop
    changed = same.replace("0822455D0A16", "104D000A0618").replace("cisco", "x")
    assert _plan(changed, desired).is_noop  # same clear text, other salt
    other = NtpKey(10, "md5", Secret("s3cret-value"))
    plan = _plan(
        same, DesiredNtp(desired.servers, keys=(other,), authenticate=True, update_calendar=False)
    )
    assert plan.commands == ("ntp authentication-key 10 md5 s3cret-value",)
    assert "s3cret-value" not in plan.diff and "0822455D0A16" not in plan.diff


def test_stale_key_trusted_and_authenticate_removed() -> None:
    desired = DesiredNtp((NtpServerSpec("192.0.2.10"),), update_calendar=False)
    text = (
        "ntp authentication-key 5 md5 0822455D0A16 7\nntp authenticate\nntp trusted-key 5\n"
        "ntp server 192.0.2.10 iburst\n"
    )
    plan = _plan(text, desired)
    assert set(plan.commands) == {
        "no ntp authentication-key 5",
        "no ntp trusted-key 5",
        "no ntp authenticate",
    }


def test_access_group_serve_only_warns() -> None:
    desired = DesiredNtp((NtpServerSpec("192.0.2.10"),))
    plan = _plan("ntp access-group serve-only 10\n", desired)
    assert any("blocks syncing to 192.0.2.10" in w for w in plan.warnings)


def test_access_group_peer_acl_evaluated() -> None:
    desired = DesiredNtp((NtpServerSpec("192.0.2.10"),))
    text = "ntp access-group peer 10\n"
    denied = _plan(text, desired, "access-list 10 permit 10.0.0.0 0.0.0.255\n")
    assert any("does not permit" in w for w in denied.warnings)
    allowed = _plan(text, desired, "access-list 10 permit 192.0.2.0 0.0.0.255\n")
    assert allowed.warnings == ()
    host = _plan(text, desired, "access-list 10 deny host 192.0.2.10\naccess-list 10 permit any\n")
    assert any("does not permit" in w for w in host.warnings)


def test_trusted_key_ranges_are_planned_by_line() -> None:
    key = NtpKey(10, "md5", Secret("cisco"))
    desired = DesiredNtp(
        (NtpServerSpec("192.0.2.10", key_id=10),),
        keys=(key,),
        authenticate=True,
        update_calendar=False,
    )
    base = "ntp authentication-key 10 md5 0822455D0A16 7\nntp authenticate\n"
    server = "ntp server 192.0.2.10 iburst key 10\n"
    # a range that trusts more than we want goes as one line (first: its `no` untrusts
    # key 10 too), then our key is trusted alone
    plan = _plan(base + "ntp trusted-key 1 - 65535\n" + server, desired)
    assert plan.commands == ("no ntp trusted-key 1 - 65535", "ntp trusted-key 10")
    # a range without any wanted key is removed after the additions, as other stale lines
    plan = _plan(base + "ntp trusted-key 20 - 30\n" + server, desired)
    assert plan.commands == ("ntp trusted-key 10", "no ntp trusted-key 20 - 30")
    # a range made only of wanted keys stays
    assert _plan(base + "ntp trusted-key 10 - 10\n" + server, desired).is_noop
