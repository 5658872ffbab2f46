"""The shipped example inventory: it checks clean and resolves the way its comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.errors import InputError
from orchestrator.inventory import (
    inventory_or_packaged_lab,
    load_inventory,
    packaged_lab_inventory,
)
from orchestrator.models import NtpServerSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventories" / "example"


def test_check_example_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["inventory", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"{EXAMPLE}: OK, 8 hosts, 2 sites (branch, hq)"


def test_example_fleet_matches_the_brief() -> None:
    inventory = load_inventory(EXAMPLE, resolve_secrets=False)
    by_site = {
        site: sorted(h.platform for h in inventory.select(site=site)) for site in inventory.sites()
    }
    assert by_site == {
        "hq": ["cisco_catos", "cisco_ios", "cisco_ios", "linux", "linux", "windows"],
        "branch": ["cisco_ios", "linux"],
    }
    assert inventory.site_networks() == {
        "branch": ("198.51.100.0/24",),
        "hq": ("192.0.2.0/24", "2001:db8:10::/48"),
    }


def test_inheritance_host_then_groups_then_defaults() -> None:
    inventory = load_inventory(EXAMPLE, resolve_secrets=False)
    core2 = inventory.host("hq-core2")
    # Nornir order: direct groups, then their groups depth-first.
    assert core2.groups == ("hq", "ios", "cisco")
    desired = core2.desired
    assert desired.vrf == "Mgmt-intf"  # host
    assert desired.source_interface == "Loopback0"  # group ios
    assert desired.authenticate is True  # group cisco (via ios)
    assert desired.servers == (  # group cisco replaces the defaults' list whole
        NtpServerSpec("192.0.2.10", key_id=10, prefer=True),
        NtpServerSpec("192.0.2.11", key_id=10),
    )
    assert desired.thresholds.max_offset_ms == 100.0  # defaults
    assert [k.key_id for k in desired.keys] == [10]
    branch = inventory.host("br-rtr1").desired.thresholds
    # Per-key merge inside thresholds: the offset from group branch, the rest from defaults.
    assert (branch.max_offset_ms, branch.max_stratum, branch.min_reach) == (250.0, 4, 6)
    catos = inventory.host("hq-sw1")
    assert (catos.platform, catos.desired.update_calendar) == ("cisco_catos", False)
    windows = inventory.host("hq-dc1")
    assert windows.username == "Administrator"
    assert (
        windows.password is not None and windows.password.source == "${env:ORCH_WINDOWS_PASSWORD}"
    )
    assert inventory.host("hq-app1").port == 2222
    assert inventory.host("br-srv1").data_get("ntp_daemon") == "ntpsec"
    assert inventory.host("hq-ntp1").data_get("ntp_daemon") == "chrony"


def test_example_uses_documentation_addresses_only() -> None:
    import ipaddress

    documentation = [
        ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32")
    ]
    inventory = load_inventory(EXAMPLE, resolve_secrets=False)
    addresses = [h.hostname for h in inventory.hosts] + [
        s.address for h in inventory.hosts for s in h.desired.servers
    ]
    for address in addresses:
        ip = ipaddress.ip_address(address)
        assert any(ip.version == n.version and ip in n for n in documentation), address


def test_secrets_resolve_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ORCH_PASSWORD", "ORCH_ENABLE_SECRET", "ORCH_WINDOWS_PASSWORD"):
        monkeypatch.setenv(name, f"value-of-{name}")
    monkeypatch.setenv("ORCH_NTP_KEY_10", "ntp-key-10")
    inventory = load_inventory(EXAMPLE)
    core1 = inventory.host("hq-core1")
    assert core1.password is not None and core1.password.reveal() == "value-of-ORCH_PASSWORD"
    assert core1.enable_secret is not None
    assert core1.enable_secret.reveal() == "value-of-ORCH_ENABLE_SECRET"
    assert core1.desired.keys[0].secret.reveal() == "ntp-key-10"
    assert inventory.host("hq-dc1").password.reveal() == "value-of-ORCH_WINDOWS_PASSWORD"  # type: ignore[union-attr]


def test_select_filters_and_unknown_names() -> None:
    inventory = load_inventory(EXAMPLE, resolve_secrets=False)
    assert [h.name for h in inventory.select(site="hq", platform="cisco_ios")] == [
        "hq-core1",
        "hq-core2",
    ]
    assert [h.name for h in inventory.select(group="cisco")] == [
        "br-rtr1",
        "hq-core1",
        "hq-core2",
        "hq-sw1",
    ]
    assert [h.name for h in inventory.select(hosts=["hq-dc1", "br-srv1"])] == [
        "br-srv1",
        "hq-dc1",
    ]
    assert inventory.select(site="branch", platform="windows") == ()
    for kwargs, named, listed in (
        ({"site": "dc"}, "unknown site 'dc'", "branch, hq"),
        ({"hosts": ["core9"]}, "unknown host 'core9'", "br-rtr1"),
        ({"platform": "junos"}, "unknown platform 'junos'", "cisco_catos, cisco_ios, linux"),
        ({"group": "nexus"}, "unknown group 'nexus'", "branch, catos, cisco"),
    ):
        with pytest.raises(InputError) as raised:
            inventory.select(**kwargs)  # type: ignore[arg-type]
        assert named in str(raised.value) and listed in str(raised.value)


def test_show_filters_by_site(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--inventory", str(EXAMPLE), "inventory", "show", "--site", "branch"]) == 0
    out = capsys.readouterr().out
    assert "br-rtr1" in out and "br-srv1" in out and "hq-core1" not in out
    assert run(["--inventory", str(EXAMPLE), "inventory", "show", "--site", "moon"]) == 2
    assert "unknown site 'moon'" in capsys.readouterr().err


def test_show_json_is_resolved_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert run(["-i", str(EXAMPLE), "inventory", "show", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    hosts = {h["name"]: h for h in record["hosts"]}
    assert set(hosts) == {
        "br-rtr1",
        "br-srv1",
        "hq-app1",
        "hq-core1",
        "hq-core2",
        "hq-dc1",
        "hq-ntp1",
        "hq-sw1",
    }
    assert hosts["hq-core1"]["password"] == "********"
    assert hosts["hq-core1"]["ntp"]["keys"] == [{"id": 10, "type": "sha1", "secret": "********"}]
    assert record["sites"]["hq"]["networks"] == ["192.0.2.0/24", "2001:db8:10::/48"]


def test_packaged_lab_inventory_and_cli_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = packaged_lab_inventory()
    assert lab.name == "lab" and lab.parent.name == "inventories"
    assert lab.is_dir()
    monkeypatch.chdir(tmp_path)  # no ./inventories/lab here
    assert inventory_or_packaged_lab(Path("inventories/lab")) == lab
    assert inventory_or_packaged_lab(Path("elsewhere")) == Path("elsewhere")  # errors later
    (tmp_path / "inventories" / "lab").mkdir(parents=True)
    assert inventory_or_packaged_lab(Path("inventories/lab")) == Path("inventories/lab")


def test_check_without_directory_uses_the_packaged_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCH_INVENTORY", raising=False)
    assert run(["inventory", "check"]) == 0
    assert capsys.readouterr().out.startswith(f"{packaged_lab_inventory()}: OK, ")
    monkeypatch.setenv("ORCH_INVENTORY", str(EXAMPLE))
    assert run(["inventory", "check"]) == 0
    assert capsys.readouterr().out.startswith(f"{EXAMPLE}: OK, 8 hosts")


@pytest.mark.parametrize("columns", [80, 200])
def test_show_fits_the_terminal_without_folding_addresses(
    columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    assert run(["--inventory", str(EXAMPLE), "inventory", "show"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= columns
    for whole in ("198.51.100.20:22", "[2001:db8:10::21]:2222", "192.0.2.10 k10*", "hq-core1"):
        assert whole in out
    # narrow terminals leave out the policy, then the login (and its masked password)
    assert ("Administrator ********" in out) is (columns == 200)


def test_show_of_the_lab_at_80_columns_keeps_addresses_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["--inventory", str(REPO / "inventories" / "lab"), "inventory", "show"]) == 0
    out = capsys.readouterr().out
    assert "127.0.1.4:2222" in out and max(len(line) for line in out.splitlines()) <= 80


def test_legacy_ssh_opt_in_is_per_host_and_shown(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    hosts = {h.name: h for h in load_inventory(EXAMPLE, resolve_secrets=False).hosts}
    assert hosts["br-rtr1"].ssh_legacy_algorithms is True
    assert hosts["hq-core1"].ssh_legacy_algorithms is False  # off by default
    assert run(["-i", str(EXAMPLE), "inventory", "show", "--format", "json"]) == 0
    shown = {h["name"]: h for h in json.loads(capsys.readouterr().out)["hosts"]}
    assert shown["br-rtr1"]["ssh"] == {"legacy_algorithms": True}
    assert shown["hq-core1"]["ssh"] == {"legacy_algorithms": False}
    assert run(["-i", str(EXAMPLE), "inventory", "show", "--site", "branch"]) == 0
    assert "legacy SSH algorithms" in capsys.readouterr().out


def test_legacy_ssh_must_be_a_boolean(tmp_path: Path) -> None:
    for name in ("defaults.yaml", "groups.yaml"):
        (tmp_path / name).write_text((EXAMPLE / name).read_text())
    (tmp_path / "hosts.yaml").write_text(
        "r1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  data:\n    ssh:\n"
        "      legacy_algorithms: sometimes\n"
    )
    with pytest.raises(InputError) as raised:
        load_inventory(tmp_path, resolve_secrets=False)
    assert "hosts.yaml:6" in str(raised.value) and "legacy_algorithms" in str(raised.value)
