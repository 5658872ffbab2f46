"""Nornir compatibility: the same files load in Nornir's SimpleInventory and in orch."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

nornir = pytest.importorskip("nornir")
from nornir import InitNornir  # noqa: E402
from nornir.core.inventory import Host as NornirHost  # noqa: E402

from orchestrator.inventory import Inventory, load_inventory  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"

# Written the way a Nornir user writes a SimpleInventory (after Nornir's own tutorial
# inventory): `---` headers, four-space indents, nested groups, connection_options for
# the netmiko/napalm plugins, free data such as role/asn/vlans, literal lab passwords.
NORNIR_HOSTS = """\
---
spine00.cmh:
    hostname: 127.0.0.1
    port: 12444
    username: vagrant
    password: vagrant
    platform: cisco_ios
    groups:
        - cmh
        - ios
    data:
        role: spine
        type: network_device
    connection_options:
        napalm:
            platform: ios
            extras:
                optional_args:
                    global_delay_factor: 2

leaf00.cmh:
    hostname: 127.0.0.2
    groups:
        - cmh
        - ios
    data:
        role: leaf
        asn: 65100

host1.cmh:
    hostname: 127.0.0.3
    port: 2201
    platform: linux
    groups:
        - cmh
    data:
        role: host
        ntp:
            servers:
                - address: 127.0.0.10
                  port: 1123

host1.bma:
    hostname: 127.0.0.4
    platform: linux
    groups:
        - bma
    data:
        role: host
"""

NORNIR_GROUPS = """\
---
global:
    data:
        domain: global.local
        asn: 1
        ntp:
            servers:
                - address: 127.0.0.10
                  prefer: true

eu:
    data:
        asn: 65100

bma:
    groups:
        - eu
        - global
    data:
        site: bma

cmh:
    groups:
        - global
    data:
        site: cmh
        asn: 65000
        vlans:
            100: frontend
            200: backend

ios:
    platform: cisco_ios
    port: 22
    connection_options:
        netmiko:
            extras:
                fast_cli: false
"""

NORNIR_DEFAULTS = """\
---
username: admin
password: admin
data:
    domain: acme.local
"""


def _nornir(directory: Path) -> dict[str, NornirHost]:
    nr = InitNornir(
        runner={"plugin": "serial"},
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(directory / "hosts.yaml"),
                "group_file": str(directory / "groups.yaml"),
                "defaults_file": str(directory / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    )
    return dict(nr.inventory.hosts)


def _assert_same_view(inventory: Inventory, nornir_hosts: dict[str, NornirHost]) -> None:
    """Every attribute both tools resolve by inheritance agrees, host by host."""
    assert sorted(nornir_hosts) == [h.name for h in inventory.hosts]
    for host in inventory.hosts:
        theirs = nornir_hosts[host.name]
        assert theirs.hostname == host.hostname, host.name
        assert theirs.platform == host.platform, host.name
        assert (theirs.port or 22) == host.port, host.name
        assert theirs.username == host.username, host.name
        assert [g.name for g in theirs.extended_groups()] == list(host.groups), host.name
        assert theirs["site"] == host.site, host.name


def test_orch_example_loads_in_nornir() -> None:
    inventory = load_inventory(EXAMPLE, resolve_secrets=False)
    nornir_hosts = _nornir(EXAMPLE)
    _assert_same_view(inventory, nornir_hosts)
    # Nornir sees the data orch reads, e.g. a Linux host's NTP servers (Nornir returns
    # the first `ntp` mapping along the chain, here group linux's; orch merges per key).
    ntp1 = nornir_hosts["hq-ntp1"]
    assert [s["address"] for s in ntp1["ntp"]["servers"]] == list(
        inventory.host("hq-ntp1").desired.server_addresses
    )
    core1 = nornir_hosts["hq-core1"]
    assert nornir_hosts["br-srv1"]["ntp_daemon"] == "ntpsec"
    assert core1.password == "${env:ORCH_PASSWORD}"  # Nornir keeps the reference as text


def test_nornir_written_inventory_loads_in_orch(tmp_path: Path) -> None:
    for name, text in (
        ("hosts.yaml", NORNIR_HOSTS),
        ("groups.yaml", NORNIR_GROUPS),
        ("defaults.yaml", NORNIR_DEFAULTS),
    ):
        (tmp_path / name).write_text(textwrap.dedent(text))

    inventory = load_inventory(tmp_path)
    _assert_same_view(inventory, _nornir(tmp_path))

    assert inventory.sites() == ("bma", "cmh")
    assert [h.name for h in inventory.select(site="cmh", platform="cisco_ios")] == [
        "leaf00.cmh",
        "spine00.cmh",
    ]
    spine = inventory.host("spine00.cmh")
    assert spine.password is not None and spine.password.reveal() == "vagrant"
    assert str(spine.password) == "********"
    assert inventory.host("leaf00.cmh").password.reveal() == "admin"  # type: ignore[union-attr]
    # Free data is kept as text; Nornir's first-found rule decides, as in Nornir.
    assert spine.data_get("role") == "spine"
    assert spine.data_get("asn") == "65000"  # from group cmh before global
    assert inventory.host("leaf00.cmh").data_get("asn") == "65100"  # the host's own
    assert inventory.host("host1.bma").data_get("asn") == "65100"  # eu before global
    assert spine.data_get("domain") == "global.local"
    assert json.loads(spine.data_get("vlans") or "") == {"100": "frontend", "200": "backend"}
    # The NTP policy: inherited from group global; host1.cmh replaces the list whole.
    assert spine.desired.server_addresses == ("127.0.0.10",)
    assert spine.desired.servers[0].prefer is True
    host1 = inventory.host("host1.cmh").desired.servers
    assert [(s.address, s.port, s.prefer) for s in host1] == [("127.0.0.10", 1123, False)]


def test_group_order_matches_nornir_depth_first(tmp_path: Path) -> None:
    # The example from Nornir's Host.extended_groups() docstring; the first group that
    # sets a value wins, so the order decides inheritance.
    (tmp_path / "hosts.yaml").write_text(
        "hostA:\n  hostname: 127.0.0.1\n  groups: [group_a, group_b]\n"
    )
    (tmp_path / "groups.yaml").write_text(
        "group_a: {groups: [group_1, group_2]}\n"
        "group_b: {groups: [group_2, group_3], data: {site: b}}\n"
        "group_1: {groups: [group_X]}\n"
        "group_2: {data: {site: two}}\n"
        "group_3: {}\n"
        "group_X: {platform: linux}\n"
    )
    (tmp_path / "defaults.yaml").write_text(
        "username: u\ndata:\n  ntp:\n    servers: [{address: 127.0.0.1}]\n"
    )
    host = load_inventory(tmp_path).host("hostA")
    assert host.groups == ("group_a", "group_1", "group_X", "group_2", "group_b", "group_3")
    assert host.site == "two"  # group_2 comes before group_b
    _assert_same_view(load_inventory(tmp_path), _nornir(tmp_path))


def _nornir_merged(directory: Path) -> dict[str, NornirHost]:
    nr = InitNornir(
        runner={"plugin": "serial"},
        inventory={
            "plugin": "SimpleInventory",
            "transform_function": "orch_merge_ntp",  # registered by orch's entry point
            "options": {
                "host_file": str(directory / "hosts.yaml"),
                "group_file": str(directory / "groups.yaml"),
                "defaults_file": str(directory / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    )
    return dict(nr.inventory.hosts)


def test_with_orchs_transform_nornir_sees_the_ntp_data_orch_uses() -> None:
    inventory = load_inventory(EXAMPLE, resolve_secrets=False)
    plain, merged = _nornir(EXAMPLE), _nornir_merged(EXAMPLE)
    differs = 0
    for host in inventory.hosts:
        ntp = merged[host.name]["ntp"]
        desired = host.desired
        servers = [(s["address"], s.get("key"), bool(s.get("prefer"))) for s in ntp["servers"]]
        assert servers == [(s.address, s.key_id, s.prefer) for s in desired.servers], host.name
        assert [k["id"] for k in ntp.get("keys", [])] == [k.key_id for k in desired.keys]
        assert ntp.get("authenticate", False) == desired.authenticate, host.name
        assert ntp.get("update_calendar", True) == desired.update_calendar, host.name
        assert ntp.get("vrf") == desired.vrf and ntp.get("source_interface") == (
            desired.source_interface
        ), host.name
        thresholds = ntp["thresholds"]
        assert thresholds["max_offset_ms"] == desired.thresholds.max_offset_ms, host.name
        assert thresholds["max_stratum"] == desired.thresholds.max_stratum, host.name
        assert thresholds["min_reach"] == desired.thresholds.min_reach, host.name
        differs += plain[host.name]["ntp"] != ntp
    # without it, Nornir takes the first `ntp` mapping whole and loses keys orch merges
    # (e.g. the defaults' thresholds under a group that sets servers)
    assert differs > 0


def test_merge_per_key_follows_orchs_rules() -> None:
    from orchestrator.inventory.nornir import merge_per_key

    host = {"servers": [{"address": "192.0.2.1"}], "thresholds": {"max_stratum": 3}}
    group = {"vrf": "MGMT", "servers": [{"address": "192.0.2.9"}], "thresholds": None}
    defaults = {"vrf": "X", "thresholds": {"max_stratum": 4, "min_reach": 6}}
    assert merge_per_key([host, group, defaults]) == {
        "servers": [{"address": "192.0.2.1"}],  # a list is replaced whole
        "thresholds": {"max_stratum": 3, "min_reach": 6},  # a mapping merges per key
        "vrf": "MGMT",
    }
