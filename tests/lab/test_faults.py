"""Device faults from the lab inventory behave the way the real failures do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from netmiko.exceptions import NetmikoAuthenticationException, ReadException

from orchestrator.lab import Faults
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from tests.lab.test_ios_ntp import associations, login

LabMaker = Callable[..., tuple[Lab, list[DeviceEndpoint]]]


def ios(make_lab: LabMaker, faults: Faults, **lab: Any) -> DeviceEndpoint:
    _lab, (ep,) = make_lab({"name": "lab-f", "platform": "cisco_ios", "faults": faults}, **lab)
    return ep


def test_wrong_password_fails_authentication(make_lab: LabMaker) -> None:
    ep = ios(make_lab, Faults(wrong_password=True))
    with pytest.raises(NetmikoAuthenticationException):
        login(ep)


def test_slow_responses_are_slow(make_lab: LabMaker) -> None:
    ep = ios(make_lab, Faults(slow_response_s=0.3))
    conn = login(ep, read_timeout_override=20)
    try:
        started = time.monotonic()
        assert "Cisco IOS Software" in conn.send_command("show version")
        assert time.monotonic() - started >= 0.3  # a lower bound only; no upper one
    finally:
        conn.disconnect()


def test_connection_dropped_mid_command(make_lab: LabMaker) -> None:
    ep = ios(make_lab, Faults(drop_on_command="show running-config"))
    conn = login(ep)
    # netmiko sees the channel close before the prompt comes back.
    with pytest.raises((ReadException, OSError, EOFError)):
        conn.send_command("show running-config", read_timeout=3)
    assert not conn.is_alive()


def test_rejected_command_and_missing_calendar(make_lab: LabMaker) -> None:
    ep = ios(make_lab, Faults(reject_commands=("ntp source",), no_calendar=True))
    conn = login(ep)
    try:
        out = conn.send_config_set(
            ["ntp source Loopback0", "ntp update-calendar", "ntp server 127.0.0.1"]
        )
        assert out.count("% Invalid input detected at '^' marker.") == 2
        assert conn.send_command("show run | include ^ntp").strip() == "ntp server 127.0.0.1"
        # A Catalyst 2960 has no calendar: that is the model the device reports.
        assert "WS-C2960" in conn.send_command("show version")
    finally:
        conn.disconnect()


def test_access_group_blocks_the_server_so_the_device_never_syncs(
    make_lab: LabMaker, ntp_server: int
) -> None:
    lab, (ep,) = make_lab(
        {"name": "lab-acl", "platform": "cisco_ios", "faults": Faults(access_group_block=True)},
        ntp_port=ntp_server,
    )
    conn = login(ep)
    try:
        assert "ntp access-group peer 99" in conn.send_command("show run | include ntp")
        conn.send_config_set(["ntp server 127.0.0.1 iburst"])
        time.sleep(3)
        row = associations(conn, "127.0.0.1")
        assert row is not None and row["reach"] == "0" and row["tally"] == " "
        # The server did answer: the replies were refused by the access group.
        assert lab.call(lambda: lab.devices["lab-acl"].ntp.refused) > 0
        # Permitting the server in the ACL (IOS semantics: `peer` grants sync) fixes it.
        conn.send_config_set(["access-list 99 permit host 127.0.0.1"])
        time.sleep(3)
        row = associations(conn, "127.0.0.1")
        assert row is not None and row["reach"] != "0"
    finally:
        conn.disconnect()


def test_unreachable_server_never_answers(make_lab: LabMaker, ntp_server: int) -> None:
    ep = ios(make_lab, Faults(unreachable_servers=("127.0.0.1",)), ntp_port=ntp_server)
    conn = login(ep)
    try:
        conn.send_config_set(["ntp server 127.0.0.1"])
        time.sleep(2.5)
        row = associations(conn, "127.0.0.1")
        assert row is not None and row["reach"] == "0" and row["ref"] == ".INIT."
    finally:
        conn.disconnect()
