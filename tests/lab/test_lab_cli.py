"""`orch lab up / status / down` as a user runs them: a real background process."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
from netmiko import ConnectHandler

from orchestrator.cli.app import run
from orchestrator.lab.daemon import read_status, running_pid


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
