"""The simulated IOS device seen through real clients: netmiko, napalm and raw paramiko."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import napalm
import paramiko
import pytest
from netmiko import ConnectHandler

from orchestrator.lab.runtime import DeviceEndpoint, Lab


def connect(ep: DeviceEndpoint, **extra: Any) -> Any:
    args: dict[str, Any] = {
        "device_type": "cisco_ios",
        "host": ep.address,
        "port": ep.port,
        "username": ep.username,
        "password": ep.password,
        "secret": ep.password,
        "use_keys": False,
        "allow_agent": False,
    }
    return ConnectHandler(**(args | extra))


@pytest.fixture
def ios(make_lab: Callable[..., tuple[Lab, list[DeviceEndpoint]]]) -> DeviceEndpoint:
    _lab, (ep,) = make_lab({"name": "lab-r1", "platform": "cisco_ios"})
    return ep


def test_netmiko_enable_config_and_show_running_config(ios: DeviceEndpoint) -> None:
    conn = connect(ios)
    try:
        assert conn.find_prompt() == "lab-r1>"
        conn.enable()
        assert conn.find_prompt() == "lab-r1#"
        out = conn.send_config_set(
            [
                "ntp server 127.0.0.1 prefer iburst",
                "ntp server vrf Mgmt 10.9.9.9 key 7",
                "ntp source GigabitEthernet0/0",
                "ntp update-calendar",
            ]
        )
        assert "(config)#" in out and "Invalid" not in out
        lines = conn.send_command("show running-config | include ^ntp").splitlines()
        assert lines == [
            "ntp source GigabitEthernet0/0",
            "ntp update-calendar",
            "ntp server 127.0.0.1 iburst prefer",
            "ntp server vrf Mgmt 10.9.9.9 key 7",
        ]
        # Abbreviations, `| section`, and `no` forms, as on a real router.
        conn.send_config_set(["no ntp server vrf Mgmt 10.9.9.9"])
        assert conn.send_command("sh run | sec ntp").splitlines()[-1] == (
            "ntp server 127.0.0.1 iburst prefer"
        )
        full = conn.send_command("show running-config")
        assert full.startswith("Building configuration...")
        assert "hostname lab-r1" in full and full.rstrip().endswith("end")
        assert "[OK]" in conn.save_config()
        startup = conn.send_command("show startup-config | include ntp server")
        assert startup.strip() == "ntp server 127.0.0.1 iburst prefer"
    finally:
        conn.disconnect()


def test_unknown_command_gets_the_caret_marker(ios: DeviceEndpoint) -> None:
    conn = connect(ios)
    try:
        conn.enable()
        lines = conn.send_command("show ntp bogus").splitlines()
        marker = lines.index("% Invalid input detected at '^' marker.")
        caret = lines[marker - 1]
        # The caret sits under the bad token: prompt "lab-r1#" + "show ntp " = 16 columns.
        assert caret == " " * 16 + "^"
        assert "% Incomplete command." in conn.send_command("show ntp")
    finally:
        conn.disconnect()


def test_user_mode_cannot_show_running_config_and_enable_needs_the_secret(
    ios: DeviceEndpoint,
) -> None:
    conn = connect(ios)
    try:
        assert "% Invalid input" in conn.send_command("show running-config")
    finally:
        conn.disconnect()
    wrong = connect(ios, secret="not-the-secret")
    try:
        with pytest.raises(ValueError):
            wrong.enable()
    finally:
        wrong.disconnect()


def _read_until(chan: paramiko.Channel, marker: str, timeout_s: float = 5.0) -> str:
    deadline = time.monotonic() + timeout_s
    data = ""
    while marker not in data and time.monotonic() < deadline:
        if chan.recv_ready():
            data += chan.recv(65536).decode()
        else:
            time.sleep(0.02)
    return data


@pytest.mark.parametrize("enter", ["\r", "\n", "\r\n"])
def test_cr_lf_and_crlf_are_each_one_enter_and_input_is_echoed(
    ios: DeviceEndpoint, enter: str
) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        ios.address, ios.port, ios.username, ios.password, look_for_keys=False, allow_agent=False
    )
    try:
        chan = client.invoke_shell()
        assert _read_until(chan, "lab-r1>").endswith("lab-r1>")
        chan.send(f"terminal length 0{enter}show privilege{enter}")
        out = _read_until(chan, "Current privilege level is 1\r\nlab-r1>")
        # Echo of both commands, one answer, and exactly two fresh prompts: no empty lines
        # from a \r\n counted twice.
        assert "terminal length 0\r\nlab-r1>show privilege\r\n" in out
        assert "Current privilege level is 1\r\nlab-r1>" in out
        assert out.count("lab-r1>") == 2
    finally:
        client.close()


def test_napalm_ios_driver_open_facts_ntp_servers_and_stats(ios: DeviceEndpoint) -> None:
    driver = napalm.get_network_driver("ios")(
        ios.address,
        ios.username,
        ios.password,
        optional_args={
            "port": ios.port,
            "secret": ios.password,
            "use_keys": False,
            "allow_agent": False,
        },
    )
    driver.open()
    try:
        facts = driver.get_facts()
        assert facts["hostname"] == "lab-r1"
        assert facts["vendor"] == "Cisco"
        assert facts["model"] == "CISCO2901/K9"
        assert facts["os_version"].startswith("C2900 Software")
        assert facts["interface_list"] == ["GigabitEthernet0/0", "GigabitEthernet0/1"]
        assert driver.get_ntp_servers() == {}
        assert driver.get_ntp_stats() == []  # "%NTP is not enabled."
        driver.device.send_config_set(["ntp server 127.0.0.99", "ntp server 127.0.0.98 prefer"])
        assert driver.get_ntp_servers() == {"127.0.0.99": {}, "127.0.0.98": {}}
        stats = driver.get_ntp_stats()
        assert [s["remote"] for s in stats] == ["127.0.0.99", "127.0.0.98"]
        assert all(s["referenceid"] == ".INIT." and s["stratum"] == 16 for s in stats)
        assert all(not s["synchronized"] and s["reachability"] == 0 for s in stats)
    finally:
        driver.close()


def test_long_output_pages_until_terminal_length_0(ios: DeviceEndpoint) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        ios.address, ios.port, ios.username, ios.password, look_for_keys=False, allow_agent=False
    )
    try:
        chan = client.invoke_shell()
        _read_until(chan, "lab-r1>")
        chan.send("enable\r")
        _read_until(chan, "Password: ")
        chan.send(f"{ios.password}\r")
        _read_until(chan, "lab-r1#")
        chan.send("show running-config\r")
        first = _read_until(chan, " --More-- ")
        assert first.endswith(" --More-- ")
        # The default vty length is 24: 23 lines of output (after the echoed command).
        assert len(first.split("\r\n")) - 2 == 23
        rest = ""
        for _ in range(10):
            chan.send(" ")
            rest += _read_until(chan, " --More-- ", timeout_s=1.0)
            if rest.endswith("lab-r1#"):
                break
        assert rest.endswith("end\r\nlab-r1#")
        chan.send("terminal length 0\rshow running-config\r")
        whole = _read_until(chan, "end\r\nlab-r1#")
        assert "--More--" not in whole and whole.endswith("end\r\nlab-r1#")
    finally:
        client.close()
