"""Malformed inventories: one line per problem with file:line, exit 2, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory
from tests.inventory.conftest import VALID_DEFAULTS, VALID_GROUPS, VALID_HOSTS, WriteInventory


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # which file the error must point at
    line: int
    expect: str  # text the one error line must contain
    hosts: str = VALID_HOSTS
    groups: str = VALID_GROUPS
    defaults: str = VALID_DEFAULTS


DEFAULTS_NO_NTP = """\
username: netops
data:
  sites:
    hq: {networks: ["192.0.2.0/24"]}
"""


def _defaults_with_ntp(ntp: str) -> str:
    return "username: netops\ndata:\n  ntp:\n" + ntp


CASES = [
    Case(
        "unknown-platform",
        "hosts.yaml",
        3,
        "host core1: platform 'ios' unknown "
        "(expected one of cisco_ios, cisco_catos, linux, windows, eos, junos, nxos, iosxr)",
        hosts="core1:\n  hostname: 192.0.2.1\n  platform: ios\n  groups: [hq]\n",
    ),
    Case(
        "unknown-key",
        "hosts.yaml",
        4,
        "host core1: unknown key 'hostnmae' (did you mean 'hostname'?",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  hostnmae: core1.example\n",
    ),
    Case(
        "unknown-ntp-key",
        "hosts.yaml",
        6,
        "unknown key 'server' under data.ntp (did you mean 'servers'?",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  data:\n    ntp:\n"
        "      server: 192.0.2.10\n",
    ),
    Case(
        "port-wrong-type",
        "hosts.yaml",
        3,
        "host core1: port: expected a whole number, got '22'",
        hosts='core1:\n  hostname: 192.0.2.1\n  port: "22"\n  groups: [hq, ios]\n',
    ),
    Case(
        "port-out-of-range",
        "hosts.yaml",
        3,
        "host core1: port: must be at most 65535, got 70000",
        hosts="core1:\n  hostname: 192.0.2.1\n  port: 70000\n  groups: [hq, ios]\n",
    ),
    Case(
        "invalid-host-address",
        "hosts.yaml",
        2,
        "host core1: hostname '192.0.2.300' is not a valid IP address or host name",
        hosts="core1:\n  hostname: 192.0.2.300\n  groups: [hq, ios]\n",
    ),
    Case(
        "invalid-server-address",
        "defaults.yaml",
        6,
        "defaults: data.ntp.servers[1].address 'ntp..example.net' is not a valid IP address",
        defaults=_defaults_with_ntp(
            "    servers:\n      - address: 192.0.2.10\n      - address: ntp..example.net\n"
        ),
    ),
    Case(
        "invalid-cidr",
        "defaults.yaml",
        5,
        "defaults: data.sites.hq.networks[0] '10.1.0.1/16' is not a valid CIDR network",
        defaults="username: netops\ndata:\n  sites:\n    hq:\n      networks: [10.1.0.1/16]\n"
        "  ntp:\n    servers: [{address: 192.0.2.10}]\n",
    ),
    Case(
        "duplicate-host",
        "hosts.yaml",
        4,
        "host core1: duplicate host name (first defined at line 1)",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\ncore1:\n"
        "  hostname: 192.0.2.2\n  groups: [hq, ios]\n",
    ),
    Case(
        "duplicate-key-in-host",
        "hosts.yaml",
        3,
        "host core1: duplicate key 'hostname' (first at line 2)",
        hosts="core1:\n  hostname: 192.0.2.1\n  hostname: 192.0.2.2\n  groups: [hq, ios]\n",
    ),
    Case(
        "unknown-group",
        "hosts.yaml",
        3,
        "host core1: group 'iso' does not exist (groups.yaml defines: hq, ios)",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, iso]\n",
    ),
    Case(
        "group-cycle",
        "groups.yaml",
        5,
        "group cisco: group cycle ios -> cisco -> ios",
        groups="ios:\n  platform: cisco_ios\n  groups: [cisco]\ncisco:\n  groups: [ios]\n"
        "hq:\n  data:\n    site: hq\n",
    ),
    Case(
        "site-without-ntp-server",
        "hosts.yaml",
        1,
        "host core1: site 'hq' has no NTP server for this host",
        defaults=DEFAULTS_NO_NTP,
    ),
    Case(
        "site-with-empty-server-list",
        "hosts.yaml",
        1,
        "host core1: site 'hq' has no NTP server",
        defaults=_defaults_with_ntp("    servers: []\n"),
    ),
    Case(
        "threshold-stratum",
        "defaults.yaml",
        6,
        "defaults: data.ntp.thresholds.max_stratum: must be at most 15, got 20",
        defaults=_defaults_with_ntp(
            "    servers: [{address: 192.0.2.10}]\n    thresholds:\n      max_stratum: 20\n"
        ),
    ),
    Case(
        "threshold-offset-negative",
        "defaults.yaml",
        6,
        "data.ntp.thresholds.max_offset_ms: must be greater than 0, got -5",
        defaults=_defaults_with_ntp(
            "    servers: [{address: 192.0.2.10}]\n    thresholds:\n      max_offset_ms: -5\n"
        ),
    ),
    Case(
        "minpoll-above-maxpoll",
        "defaults.yaml",
        5,
        "data.ntp.servers[0] minpoll 10 is greater than maxpoll 6",
        defaults=_defaults_with_ntp(
            "    servers:\n      - address: 192.0.2.10\n        minpoll: 10\n        maxpoll: 6\n"
        ),
    ),
    Case(
        "yaml-syntax",
        "hosts.yaml",
        3,
        "YAML syntax error",
        hosts="core1:\n  hostname: [192.0.2.1\n  groups: [hq]\n",
    ),
    Case(
        "key-type",
        "defaults.yaml",
        8,
        "data.ntp.keys[0].type 'sha256' unknown (expected one of md5, sha1, aes128)",
        defaults=_defaults_with_ntp(
            "    servers: [{address: 192.0.2.10, key: 1}]\n    keys:\n      - id: 1\n"
            "        secret: ${env:NTP_KEY_1:-x}\n        type: sha256\n"
        ),
    ),
    Case(
        "server-key-undefined",
        "defaults.yaml",
        6,
        "host core1: data.ntp.servers[0].key 7 is not defined in data.ntp.keys (defined: none)",
        defaults=_defaults_with_ntp("    servers:\n      - address: 192.0.2.10\n        key: 7\n"),
    ),
    Case(
        "site-undeclared",
        "hosts.yaml",
        5,
        "host core1: site 'lab' unknown (defaults.yaml data.sites declares: branch, hq)",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [ios]\n  data:\n    site: lab\n",
    ),
    Case(
        "data-key-typo",
        "hosts.yaml",
        5,
        "host core1: unknown key 'stie' under data (did you mean 'site'?)",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  data:\n    stie: hq\n",
    ),
    Case(
        "ntp-not-a-mapping",
        "hosts.yaml",
        5,
        "host core1: data.ntp: expected a mapping of key: value, got a list",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  data:\n"
        "    ntp: [192.0.2.10]\n",
    ),
    Case(
        "tagged-extra",
        "hosts.yaml",
        5,
        "host core1: data.community: tagged values such as !vault are not supported",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  data:\n"
        "    community: !vault 3938613\n",
    ),
    Case(
        "hosts-not-a-mapping",
        "hosts.yaml",
        1,
        "expected a mapping of host names to their settings",
        hosts="- core1\n- core2\n",
    ),
    Case(
        "no-platform",
        "hosts.yaml",
        1,
        "host core1: no platform (set platform: one of cisco_ios",
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq]\n",
    ),
    Case(
        "bool-wrong-type",
        "defaults.yaml",
        6,
        "data.ntp.servers[0].prefer: expected true or false, got 'yes please'",
        defaults=_defaults_with_ntp(
            "    servers:\n      - address: 192.0.2.10\n        prefer: yes please\n"
        ),
    ),
    Case(
        "sites-outside-defaults",
        "groups.yaml",
        5,
        "group hq: data.sites belongs in defaults.yaml",
        groups="ios:\n  platform: cisco_ios\nhq:\n  data:\n    sites: {hq: {networks: []}}\n"
        "    site: hq\n",
    ),
    Case(
        "malformed-secret-reference",
        "defaults.yaml",
        2,
        "host core1: password: malformed secret reference",
        defaults="username: netops\npassword: ${env:ORCH_PASSWORD\ndata:\n  ntp:\n"
        "    servers: [{address: 192.0.2.10}]\n",
    ),
    Case(
        "groups-in-defaults",
        "defaults.yaml",
        2,
        "defaults: unknown key 'groups'",
        defaults="username: netops\ngroups: [hq]\ndata:\n  ntp:\n"
        "    servers: [{address: 192.0.2.10}]\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_malformed_inventory_gives_one_located_line(
    case: Case, write_inventory: WriteInventory, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = write_inventory(hosts=case.hosts, groups=case.groups, defaults=case.defaults)

    code = run(["inventory", "check", "--resolve-secrets", str(directory)])

    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    prefix = f"orch: error: {directory / case.file}:{case.line}:"
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    assert case.expect in lines[0], lines[0]


def test_yaml_syntax_error_names_line_and_column(write_inventory: WriteInventory) -> None:
    directory = write_inventory(hosts="core1:\n  hostname: 192.0.2.1\n   groups: [hq]\n")
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    assert str(raised.value).startswith(f"{directory / 'hosts.yaml'}:3:")
    location = str(raised.value).split(": ")[0]
    assert location.count(":") == 2  # file:line:column


def test_missing_variable_names_variable_host_and_file(
    write_inventory: WriteInventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCH_TEST_UNSET_VARIABLE", raising=False)
    directory = write_inventory(
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n"
        "  password: ${env:ORCH_TEST_UNSET_VARIABLE}\n"
    )
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{directory / 'hosts.yaml'}:4: host core1: password:")
    assert "ORCH_TEST_UNSET_VARIABLE is not set" in message
    # Without resolution the same inventory loads: references are checked for form only.
    assert load_inventory(directory, resolve_secrets=False).hosts[0].name == "core1"


def test_several_problems_are_reported_together_in_file_order(
    write_inventory: WriteInventory,
) -> None:
    directory = write_inventory(
        hosts="core1:\n  hostname: 192.0.2.1\n  platform: ios\n  groups: [hq]\n"
        "core2:\n  hostname: 192.0.2.2\n  port: 0\n  groups: [hq, ios]\n",
        groups="ios:\n  platform: cisco_ios\n  colour: blue\nhq:\n  data:\n    site: hq\n",
    )
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    lines = str(raised.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{directory / 'groups.yaml'}:3",
        f"{directory / 'hosts.yaml'}:3",
        f"{directory / 'hosts.yaml'}:7",
    ]


def test_problem_inherited_by_many_hosts_is_one_line(write_inventory: WriteInventory) -> None:
    hosts = "".join(f"r{i}:\n  hostname: 192.0.2.{i}\n  groups: [hq, ios]\n" for i in range(1, 6))
    directory = write_inventory(hosts=hosts, defaults=DEFAULTS_NO_NTP)
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    # One line per host: each host lacks servers at its own line.
    assert len(str(raised.value).splitlines()) == 5
    directory = write_inventory(
        hosts=hosts, defaults=VALID_DEFAULTS.replace("192.0.2.10", "192.0.2.999")
    )
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    assert str(raised.value).count("\n") == 0  # the defaults line, reported once


def test_missing_directory_and_hosts_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory directory not found"):
        load_inventory(tmp_path / "nope")
    with pytest.raises(InventoryError, match=r"hosts\.yaml: missing"):
        load_inventory(tmp_path)


def test_a_broken_group_is_reported_once_not_again_for_its_members(
    write_inventory: WriteInventory,
) -> None:
    directory = write_inventory(groups="ios:\n  platform: ios\nhq:\n  data:\n    site: hq\n")
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    assert str(raised.value) == (
        f"{directory / 'groups.yaml'}:2: group ios: platform 'ios' unknown "
        "(expected one of cisco_ios, cisco_catos, linux, windows, eos, junos, nxos, iosxr)"
    )


def test_hostname_defaults_to_the_name_only_when_it_is_an_address(
    write_inventory: WriteInventory,
) -> None:
    directory = write_inventory(hosts="core1.example.net:\n  groups: [hq, ios]\n")
    assert load_inventory(directory).hosts[0].hostname == "core1.example.net"
    directory = write_inventory(hosts="core_1:\n  groups: [hq, ios]\n")
    with pytest.raises(InventoryError, match=r"hosts\.yaml:1: host core_1: no hostname"):
        load_inventory(directory)


@pytest.mark.parametrize("as_directory", ["hosts.yaml", "groups.yaml", "defaults.yaml"])
def test_a_directory_where_a_yaml_file_belongs_says_so(
    tmp_path: Path, as_directory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hosts.yaml").write_text(VALID_HOSTS)
    (tmp_path / as_directory).unlink(missing_ok=True)
    (tmp_path / as_directory).mkdir()
    assert run(["inventory", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"orch: error: {tmp_path / as_directory}: is a directory; it should be a YAML file\n"
    )


def test_a_file_given_as_the_inventory_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(VALID_HOSTS)
    assert run(["inventory", "check", str(hosts)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orch: error: {hosts}: is a file; give the inventory directory")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_show_prints_bracketed_ipv6_addresses_literally(
    write_inventory: WriteInventory, capsys: pytest.CaptureFixture[str]
) -> None:
    # "[fd00::10]:22" looks like rich markup (a tag starts with a letter): it must print as is
    hosts = "core1:\n  hostname: fd00::10\n  groups: [hq, ios]\n"
    directory = write_inventory(
        hosts=hosts, defaults=VALID_DEFAULTS.replace('"192.0.2.0/24"', '"fd00::/8"')
    )
    assert run(["--inventory", str(directory), "inventory", "show"]) == 0
    assert "[fd00::10]:22" in capsys.readouterr().out
