"""`orch inventory import ansible`: YAML and INI inventories round-trip into orch's layout."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.inventory import load_inventory
from orchestrator.inventory.ansible import read_ansible
from tests.inventory.test_inventory_nornir import _assert_same_view, _nornir

ANSIBLE_YAML = """\
all:
  vars:
    ansible_user: netops
    ansible_password: "{{ lookup('env', 'NET_PASSWORD') }}"
    ntp_role: client
  children:
    hq:
      vars:
        site: hq
      children:
        hq_routers:
          hosts:
            hq-r1:
              ansible_host: 192.0.2.1
            hq-r2:
              ansible_host: 192.0.2.2
              ansible_port: 2222
          vars:
            ansible_network_os: cisco.ios.ios
            ansible_connection: ansible.netcommon.network_cli
            ansible_become_password: Sup3rS3cret-enable
        hq_switches:
          hosts:
            hq-sw1: {ansible_host: 192.0.2.5, ansible_network_os: catos}
        hq_servers:
          hosts:
            hq-web[01:02]:
          vars:
            ansible_ssh_private_key_file: /etc/orch/id_ed25519
        hq_windows:
          hosts:
            hq-dc1:
              ansible_host: 192.0.2.30
              ansible_connection: winrm
              ansible_port: 5986
              ansible_password: W1nd0ws-literal
    branch:
      vars: {site: branch}
      hosts:
        br-r1: {ansible_host: 198.51.100.1, ansible_network_os: ios}
        br-fw1: {ansible_host: 198.51.100.2, ansible_network_os: fortinet.fortios.fortios}
"""

ANSIBLE_INI = """\
# Ansible INI inventory
[hq_routers]
hq-r1 ansible_host=192.0.2.1
hq-r2 ansible_host=192.0.2.2 ansible_port=2222

[hq_routers:vars]
ansible_network_os=ios
ansible_password=R0uter-literal

[servers]
web[1:3].example.com ansible_user=deploy
db1.example.com:2200

[windows]
dc1 ansible_host=192.0.2.30 ansible_os_family=Windows ansible_shell_type=powershell

[hq:children]
hq_routers
servers
windows

[hq:vars]
site=hq

[all:vars]
ansible_user=netops
"""

LITERALS = ("Sup3rS3cret-enable", "W1nd0ws-literal", "R0uter-literal")


def _import(tmp_path: Path, name: str, text: str, capsys: pytest.CaptureFixture[str]) -> Path:
    source = tmp_path / name
    source.write_text(textwrap.dedent(text))
    out = tmp_path / "imported"
    code = run(
        [
            "inventory",
            "import",
            "ansible",
            str(source),
            "--out",
            str(out),
            "--ntp-server",
            "192.0.2.10",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for literal in LITERALS:
        assert literal not in captured.out + captured.err
        for written in out.iterdir():
            assert literal not in written.read_text()
    return out


def _summary(directory: Path) -> dict[str, tuple[str, str, int, str, str]]:
    inventory = load_inventory(directory, resolve_secrets=False)
    return {h.name: (h.hostname, h.platform, h.port, h.username, h.site) for h in inventory.hosts}


def test_yaml_inventory_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _import(tmp_path, "hosts.yml", ANSIBLE_YAML, capsys)

    assert _summary(out) == {
        "hq-r1": ("192.0.2.1", "cisco_ios", 22, "netops", "hq"),
        "hq-r2": ("192.0.2.2", "cisco_ios", 2222, "netops", "hq"),
        "hq-sw1": ("192.0.2.5", "cisco_catos", 22, "netops", "hq"),
        "hq-web01": ("hq-web01", "linux", 22, "netops", "hq"),
        "hq-web02": ("hq-web02", "linux", 22, "netops", "hq"),
        "hq-dc1": ("192.0.2.30", "windows", 22, "netops", "hq"),  # WinRM port not carried
        "br-r1": ("198.51.100.1", "cisco_ios", 22, "netops", "branch"),
    }
    inventory = load_inventory(out, resolve_secrets=False)
    r1 = inventory.host("hq-r1")
    assert r1.groups == ("hq_routers", "hq")
    assert r1.password is not None and r1.password.source == "${env:NET_PASSWORD}"
    assert r1.enable_secret is not None
    assert r1.enable_secret.source == "${env:ORCH_ENABLE_SECRET_HQ_ROUTERS}"
    dc1 = inventory.host("hq-dc1").password
    assert dc1 is not None and dc1.source == "${env:ORCH_PASSWORD_HQ_DC1}"
    assert inventory.host("hq-web01").ssh_key_file == "/etc/orch/id_ed25519"
    assert inventory.host("br-r1").desired.server_addresses == ("192.0.2.10",)
    # The imported files are a SimpleInventory too: Nornir reads them the same way.
    _assert_same_view(inventory, _nornir(out))


def test_yaml_import_reports_what_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "hosts.yml"
    source.write_text(ANSIBLE_YAML)
    code = run(
        [
            "inventory",
            "import",
            "ansible",
            str(source),
            "--out",
            str(tmp_path / "o"),
            "--ntp-server",
            "192.0.2.10",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "host br-fw1: ansible_network_os 'fortinet.fortios.fortios' has no orch platform" in err
    assert "all: not imported (orch has no use for them): ntp_role" in err
    assert "ansible_port 5986 is WinRM" in err


def test_ini_inventory_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _import(tmp_path, "inventory.ini", ANSIBLE_INI, capsys)

    assert _summary(out) == {
        "hq-r1": ("192.0.2.1", "cisco_ios", 22, "netops", "hq"),
        "hq-r2": ("192.0.2.2", "cisco_ios", 2222, "netops", "hq"),
        "web1.example.com": ("web1.example.com", "linux", 22, "deploy", "hq"),
        "web2.example.com": ("web2.example.com", "linux", 22, "deploy", "hq"),
        "web3.example.com": ("web3.example.com", "linux", 22, "deploy", "hq"),
        "db1.example.com": ("db1.example.com", "linux", 2200, "netops", "hq"),
        "dc1": ("192.0.2.30", "windows", 22, "netops", "hq"),
    }
    r2 = load_inventory(out, resolve_secrets=False).host("hq-r2")
    assert r2.password is not None and r2.password.source == "${env:ORCH_PASSWORD_HQ_ROUTERS}"


def test_ini_structure_is_read_like_ansible(tmp_path: Path) -> None:
    source = tmp_path / "inventory"
    source.write_text(ANSIBLE_INI)
    parsed = read_ansible(source)
    assert parsed.groups["hq"].children == ["hq_routers", "servers", "windows"]
    assert parsed.hosts["hq-r2"] == {"ansible_host": "192.0.2.2", "ansible_port": 2222}
    assert parsed.host_groups["web2.example.com"] == ["servers"]
    assert parsed.groups["hq_routers"].vars["ansible_network_os"] == "ios"


def test_import_refuses_to_overwrite_and_needs_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _import(tmp_path, "inventory.ini", ANSIBLE_INI, capsys)
    argv = ["inventory", "import", "ansible", str(tmp_path / "inventory.ini"), "--out", str(out)]
    assert run([*argv, "--ntp-server", "192.0.2.10"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert run([*argv, "--ntp-server", "192.0.2.10", "--force"]) == 0
    capsys.readouterr()
    assert run([*argv, "--force"]) == 2
    assert "--ntp-server" in capsys.readouterr().err
    assert (
        run(
            [
                "inventory",
                "import",
                "ansible",
                str(tmp_path / "missing.ini"),
                "--ntp-server",
                "192.0.2.10",
            ]
        )
        == 2
    )


def test_import_that_needs_edits_says_what_to_do_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "net.ini"
    source.write_text("[linux]\nsrv1 ansible_host=192.0.2.7\n")  # no ansible_user anywhere
    out = tmp_path / "imported"
    argv = ["inventory", "import", "ansible", str(source), "--out", str(out)]
    assert run([*argv, "--ntp-server", "192.0.2.10"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"orch: error: {out / 'hosts.yaml'}:") and "no username" in lines[0]
    assert lines[1] == (
        f"{out}: imported, but the files need the edits above before use "
        f"(then run: orch inventory check {out})"
    )


def test_import_refuses_a_repeated_ntp_server_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "net.ini"
    source.write_text("[linux]\nsrv1 ansible_host=192.0.2.7 ansible_user=ops\n")
    out = tmp_path / "imported"
    argv = ["inventory", "import", "ansible", str(source), "--out", str(out)]
    assert run([*argv, "--ntp-server", "192.0.2.10", "--ntp-server", "192.0.2.10"]) == 2
    err = capsys.readouterr().err
    assert err == "orch: error: --ntp-server 192.0.2.10 is given more than once\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty.ini", ""),
        ("comments.ini", "# nothing here yet\n; nor here\n"),
        ("groups.ini", "[routers]\n[switches:vars]\nansible_user=ops\n"),
        ("groups.yml", "all:\n  children:\n    routers:\n    switches: {}\n"),
    ],
)
def test_import_of_an_inventory_without_hosts_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    source = tmp_path / name
    source.write_text(text)
    out = tmp_path / "imported"
    argv = ["inventory", "import", "ansible", str(source), "--out", str(out)]
    assert run([*argv, "--ntp-server", "192.0.2.10"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"orch: error: {source}: no hosts in this Ansible inventory (nothing to import) "
        "(give the inventory file that lists the hosts)\n"
    )
    assert captured.out == ""
    assert not out.exists()


def test_import_where_no_host_is_usable_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "net.ini"
    source.write_text("[fw]\nfw1 ansible_network_os=fortios ansible_user=ops\n")
    out = tmp_path / "imported"
    argv = ["inventory", "import", "ansible", str(source), "--out", str(out)]
    assert run([*argv, "--ntp-server", "192.0.2.10"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"orch: error: {source}: no host can be imported (1 skipped, first: host fw1"
    )
    assert "fw1" in err and "fortios" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("r[1:3:0]", "host range '[1:3:0]' in 'r[1:3:0]' is empty (start after end, or step 0)"),
        ("r[z:a]", "host range '[z:a]' in 'r[z:a]' is empty"),
        ("r[1:c]", "host range '[1:c]' mixes a number and a letter"),
        ("r[1:999999999]", "stands for 999999999 hosts (at most 10000)"),
        ("r[1:200]-[1:200]", "'r[1:200]-[1:200]' stands for more than 10000 hosts"),
    ],
)
def test_host_ranges_that_cannot_be_expanded_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, message: str
) -> None:
    source = tmp_path / "net.ini"
    source.write_text(f"[routers]\n{pattern} ansible_network_os=ios ansible_user=ops\n")
    argv = ["inventory", "import", "ansible", str(source), "--out", str(tmp_path / "out")]
    assert run([*argv, "--ntp-server", "192.0.2.10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orch: error: {source}:2: ") and message in err, err
    assert len(err.splitlines()) == 1
