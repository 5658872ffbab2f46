"""Inventory hosts on the platforms napalm covers (eos, junos, nxos, iosxr).

They load like any other host, the driver registry serves the same list, and
`orch push --dry-run` on such a host goes through the napalm driver (napalm's own mock
driver, fed the device's `get_ntp_servers()` answer, stands in for the device).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import drivers
from orchestrator.cli.app import run
from orchestrator.drivers.napalm_generic import NapalmDriver
from orchestrator.inventory import load_inventory
from orchestrator.inventory.ansible import NETWORK_OS
from orchestrator.models import INVENTORY_PLATFORMS, NAPALM_PLATFORMS
from tests.inventory.conftest import VALID_DEFAULTS, WriteInventory

NAPALM_HOSTS = """\
spine1:
  hostname: 192.0.2.21
  platform: eos
  groups: [hq]
edge1:
  hostname: 192.0.2.22
  platform: junos
  groups: [hq]
leaf1:
  hostname: 192.0.2.23
  platform: nxos
  groups: [hq]
pe1:
  hostname: 192.0.2.24
  platform: iosxr
  groups: [hq]
"""

HQ = "hq:\n  data:\n    site: hq\n"


def test_napalm_platform_hosts_load_with_their_platform(write_inventory: WriteInventory) -> None:
    inventory = load_inventory(
        write_inventory(hosts=NAPALM_HOSTS, groups=HQ), resolve_secrets=False
    )
    platforms = {h.name: h.platform for h in inventory.hosts}
    assert platforms == {"spine1": "eos", "edge1": "junos", "leaf1": "nxos", "pe1": "iosxr"}
    assert [h.name for h in inventory.select(platform="junos")] == ["edge1"]
    for host in inventory.hosts:
        driver = drivers.get_driver(host.platform)
        assert isinstance(driver, NapalmDriver) and driver.platform == host.platform


def test_the_registry_serves_exactly_the_inventory_platforms() -> None:
    assert sorted(drivers.platforms()) == sorted(INVENTORY_PLATFORMS)
    assert set(NAPALM_PLATFORMS) <= set(INVENTORY_PLATFORMS)


def test_ansible_network_os_names_map_to_the_napalm_platforms() -> None:
    assert NETWORK_OS["arista.eos.eos"] == "eos"
    assert NETWORK_OS["junipernetworks.junos.junos"] == "junos"
    assert NETWORK_OS["cisco.nxos.nxos"] == "nxos"
    assert NETWORK_OS["cisco.iosxr.iosxr"] == "iosxr"
    assert set(NETWORK_OS.values()) <= set(INVENTORY_PLATFORMS)


def test_push_dry_run_on_an_eos_host_reaches_the_napalm_driver(
    write_inventory: WriteInventory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mock = tmp_path / "mock"
    mock.mkdir()
    # What the switch answers to get_ntp_servers(): one stale server.
    (mock / "get_ntp_servers.1").write_text(json.dumps({"10.9.9.9": {}}))
    hosts = (
        "spine1:\n  hostname: 127.0.0.1\n  platform: eos\n  groups: [hq]\n"
        f"  data:\n    napalm_driver: mock\n    napalm_mock_path: {mock}\n"
    )
    directory = write_inventory(hosts=hosts, groups=HQ, defaults=VALID_DEFAULTS)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))

    code = run(["--inventory", str(directory), "push", "--dry-run", "--format", "json"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    (result,) = json.loads(captured.out)["results"]
    assert (result["host"], result["platform"], result["outcome"]) == (
        "spine1",
        "eos",
        "dry-run",
    )
    # The napalm driver's view: the server set napalm read from the switch (the mock's
    # get_ntp_servers answer) against the inventory's.
    assert result["diff"].splitlines()[-2:] == ["-ntp server 10.9.9.9", "+ntp server 192.0.2.10"]
