"""Lab specs from inventories: addresses, credentials, faults; bad faults name the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InventoryError
from orchestrator.lab import Faults
from orchestrator.lab.inventory import parse_faults, spec_from_inventory, write_inventory
from orchestrator.lab.runtime import DeviceEndpoint

REPO_LAB = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def test_demo_inventory_becomes_a_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCH_LAB_PASSWORD", raising=False)
    spec = spec_from_inventory(REPO_LAB, poll_interval_s=1.0)
    by_name = {d.name: d for d in spec.devices}
    assert {d.platform for d in spec.devices} == {"cisco_ios", "cisco_catos", "windows"}
    assert all(d.address.startswith("127.0.1.") and d.port == 2222 for d in spec.devices)
    assert by_name["lab-rtr1"].password == "orch-lab"
    assert all(d.faults == Faults() for d in spec.devices)  # no faults in the demo fleet
    assert spec.linux.count == 3 and spec.linux.base_address == "127.0.2.1"
    # One real host per time daemon, from each host's data.ntp_daemon.
    assert spec.linux.kinds == ("chrony", "ntpsec", "timesyncd")
    assert spec.ntp_servers == (("127.0.0.1", 123),)


def test_faults_clock_and_startup_from_host_data(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text(
        "r1:\n"
        "  hostname: 127.0.1.9\n"
        "  platform: cisco_ios\n"
        "  port: 2200\n"
        "  username: u\n"
        "  password: p\n"
        "  data:\n"
        "    site: lab\n"
        '    lab_faults: "no_calendar; slow_response_s=0.5; unreachable_servers=127.0.0.1"\n'
        "    lab_clock_error_s: -1.5\n"
        "    ntp:\n"
        "      servers: [{address: 127.0.0.1}]\n"
        '    lab_startup: "ntp server 127.0.0.5; ntp source Loopback0"\n'
    )
    (device,) = spec_from_inventory(tmp_path).devices
    assert device.faults == Faults(
        no_calendar=True, slow_response_s=0.5, unreachable_servers=("127.0.0.1",)
    )
    assert device.clock_error_s == -1.5 and device.port == 2200
    assert device.startup_config == ("ntp server 127.0.0.5", "ntp source Loopback0")


def test_unknown_fault_is_an_input_error_naming_the_host() -> None:
    with pytest.raises(InventoryError) as info:
        parse_faults("no_calender", "hosts.yaml: host r1")
    assert "host r1" in str(info.value) and "no_calender" in str(info.value)


def test_real_device_quirks_are_lab_faults() -> None:
    text = (
        "hostname=dc1-core-router-01-edge; prompt=%h-STP-1234%p; banner=no_newline; "
        "login_delay_s=1.5; privilege15; aaa_refuse=terminal length,configure terminal; "
        "config_locked; domain_lookup; save_confirm; save_delay_s=15; syslog=timestamps; "
        "legacy_ssh; keyboard_interactive; input_buffer=64; echo_width=80; "
        "reject_commands=ntp server; reject_message=ambiguous"
    )
    assert parse_faults(text, "hosts.yaml: host r1") == Faults(
        hostname="dc1-core-router-01-edge",
        prompt="%h-STP-1234%p",
        banner="no_newline",
        login_delay_s=1.5,
        privilege15=True,
        aaa_refuse=("terminal length", "configure terminal"),
        config_locked=True,
        domain_lookup=True,
        save_confirm=True,
        save_delay_s=15.0,
        syslog="timestamps",
        legacy_ssh=True,
        keyboard_interactive=True,
        input_buffer=64,
        echo_width=80,
        reject_commands=("ntp server",),
        reject_message="ambiguous",
    )
    with pytest.raises(InventoryError) as info:
        parse_faults("syslog=loud", "hosts.yaml: host r1")
    assert "plain, timestamps" in str(info.value)
    with pytest.raises(InventoryError) as info:
        parse_faults("input_buffer=lots", "hosts.yaml: host r1")
    assert "whole number" in str(info.value)


def test_written_inventory_points_at_the_running_lab(tmp_path: Path) -> None:
    endpoints = [
        DeviceEndpoint("lab-rtr1", "cisco_ios", "127.0.1.1", 2222, "admin", ""),
        DeviceEndpoint("linux-01", "linux", "127.0.2.1", 2201, "root", "", key_file="/k"),
    ]
    out = write_inventory(tmp_path / "inv", endpoints, source=REPO_LAB)
    from orchestrator.inventory import load_inventory

    hosts = {h.name: h for h in load_inventory(out).hosts}
    assert hosts["lab-rtr1"].port == 2222 and hosts["lab-rtr1"].platform == "cisco_ios"
    assert hosts["lab-linux1"].port == 2201 and hosts["lab-linux1"].ssh_key_file == "/k"


def test_linux_hosts_keep_their_inventory_names_in_address_order(tmp_path: Path) -> None:
    # `orch lab status` lists the pool's names: they must be the inventory's
    # (lab-linux1...), not the pool's default linux-01, or --host finds nothing.
    spec = spec_from_inventory(REPO_LAB, poll_interval_s=1.0)
    assert spec.linux.names == ("lab-linux1", "lab-linux2", "lab-linux3")
    (tmp_path / "hosts.yaml").write_text(
        "b-srv:\n  hostname: 127.0.2.10\n  platform: linux\n  port: 22\n"
        "a-srv:\n  hostname: 127.0.2.9\n  platform: linux\n  port: 22\n"
    )
    (tmp_path / "defaults.yaml").write_text(
        "username: root\ndata:\n  site: lab\n  ntp:\n    servers:\n      - address: 127.0.0.1\n"
    )
    spec = spec_from_inventory(tmp_path, poll_interval_s=1.0)
    assert spec.linux.base_address == "127.0.2.9"
    assert spec.linux.names == ("a-srv", "b-srv")
