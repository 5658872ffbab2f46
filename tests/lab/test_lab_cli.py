"""`orch lab up / status / down` as a user runs them: a real background process."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from netmiko import ConnectHandler

from orchestrator.cli.app import run
from orchestrator.lab.daemon import read_status, running_pid
from orchestrator.lab.linux_hosts import missing_requirements


def free_port(address: str = "127.0.1.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path))
    return tmp_path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "X"


def test_up_status_down(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert run(["lab", "up", "--devices", "3", "--ssh-port", str(port)]) == 0
    out = capsys.readouterr().out
    assert "Lab running" in out and "3 devices (3 cisco_ios)" in out
    state = data_dir / "lab"
    pid = running_pid(state)
    assert pid is not None and _alive(pid)
    try:
        assert run(["lab", "status"]) == 0
        assert "lab-ios-001" in capsys.readouterr().out
        assert run(["-f", "json", "lab", "status"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["state"] == "running" and document["pid"] == pid
        assert [e["name"] for e in document["endpoints"]] == [
            "lab-ios-001",
            "lab-ios-002",
            "lab-ios-003",
        ]
        assert all(e["password"] == "" for e in document["endpoints"])
        assert run(["lab", "up", "--devices", "3", "--ssh-port", str(port)]) == 2
        assert "already running" in capsys.readouterr().err
        conn = ConnectHandler(
            device_type="cisco_ios",
            host="127.0.1.1",
            port=port,
            username="admin",
            password=os.environ.get("ORCH_LAB_PASSWORD", "orch-lab"),
            use_keys=False,
            allow_agent=False,
        )
        assert conn.find_prompt() == "lab-ios-001>"
        conn.disconnect()
        inventory = Path(str(read_status(state)["inventory"]))  # type: ignore[index]
        assert run(["-i", str(inventory), "inventory", "check"]) == 0
    finally:
        assert run(["lab", "down"]) == 0
    assert not _alive(pid)
    assert run(["lab", "status"]) == 1
    assert "not running" in capsys.readouterr().out


def test_down_after_a_crash_cleans_up(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert run(["lab", "up", "--devices", "2", "--ssh-port", str(port)]) == 0
    pid = running_pid(data_dir / "lab")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the lab process dies without cleaning up
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run(["lab", "status"]) == 1
    assert run(["lab", "down"]) == 0
    assert "not running" in capsys.readouterr().out
    assert not (data_dir / "lab" / "lab.pid").exists()
    # Its port is free again: nothing of it is left listening.
    with socket.socket() as s:
        s.bind(("127.0.1.1", port))


def test_up_with_a_bad_inventory_is_an_input_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["lab", "up", "--inventory", str(data_dir / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def _linux_inventory(directory: Path, ssh_port: int, linux_port: int) -> Path:
    directory.mkdir()
    (directory / "defaults.yaml").write_text(
        "username: admin\n"
        "password: ${env:ORCH_LAB_PASSWORD:-orch-lab}\n"
        "data:\n"
        "  site: lab\n"
        "  ntp:\n"
        "    servers: [{address: 127.0.0.1}]\n"
    )
    (directory / "hosts.yaml").write_text(
        f"r1:\n  hostname: 127.0.1.1\n  platform: cisco_ios\n  port: {ssh_port}\n"
        f"l1:\n  hostname: 127.0.2.161\n  platform: linux\n  port: {linux_port}\n"
        "  username: root\n"
    )
    return directory


@pytest.mark.root
@pytest.mark.skipif(bool(missing_requirements()), reason="; ".join(missing_requirements()))
def test_linux_hosts_die_with_a_killed_lab(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    linux_port = free_port("127.0.2.161")
    inventory = _linux_inventory(data_dir / "inv", free_port(), linux_port)
    assert run(["lab", "up", "--inventory", str(inventory)]) == 0
    assert "Linux hosts: 1 started" in capsys.readouterr().out
    pid = running_pid(data_dir / "lab")
    assert pid is not None
    with socket.create_connection(("127.0.2.161", linux_port), timeout=5) as s:
        assert s.recv(64).startswith(b"SSH-2.0-OpenSSH")
    os.kill(pid, signal.SIGKILL)  # no chance to clean up: the parent-death signal must
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.2.161", linux_port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the Linux host's sshd outlived the lab process")
    assert run(["lab", "down"]) == 0


def test_embedded_lab_writes_an_inventory_of_its_devices(tmp_path: Path) -> None:
    from orchestrator.inventory import load_inventory
    from orchestrator.lab import EmbeddedLab, LabOptions

    port = free_port()
    with EmbeddedLab(LabOptions(devices=10, ssh_port=port), tmp_path / "lab") as lab:
        hosts = load_inventory(lab.inventory).hosts
        assert len(hosts) == len(lab.endpoints) == 10
        assert {h.platform for h in hosts} == {"cisco_ios", "cisco_catos", "windows"}
        with socket.create_connection(("127.0.1.10", port), timeout=5) as s:
            assert s.recv(64).startswith(b"SSH-2.0-")
    with socket.socket() as s:
        s.bind(("127.0.1.10", port))  # stopped: the port is free again
