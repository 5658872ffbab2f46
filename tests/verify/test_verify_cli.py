"""`orch verify` through the CLI where no device answers: verdict, reason, exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orchestrator.cli.app import run


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_inventory(directory: Path, port: int) -> None:
    directory.mkdir()
    (directory / "defaults.yaml").write_text(
        f"port: {port}\nusername: admin\npassword: not-the-real-one\n"
        "data:\n  site: hq\n  ntp:\n    servers:\n      - address: 127.0.0.1\n"
    )
    (directory / "groups.yaml").write_text("ios:\n  platform: cisco_ios\n")
    (directory / "hosts.yaml").write_text("rtr-down:\n  hostname: 127.0.0.1\n  groups: [ios]\n")


def test_unreachable_device_is_reported_stored_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    inventory = tmp_path / "inv"
    write_inventory(inventory, closed_port())
    db = tmp_path / "h.sqlite"
    code = run(["--inventory", str(inventory), "verify", "--db", str(db), "--timeout", "10"])
    captured = capsys.readouterr()
    assert code == 1
    assert "rtr-down" in captured.out and "unreachable" in captured.out
    assert "could not read the device" in captured.out
    assert "not-the-real-one" not in captured.out + captured.err
    assert "no client log" in captured.err and "stored in" in captured.err
    assert run(["report", "--db", str(db), "--format", "junit"]) == 1
    assert 'type="unreachable"' in capsys.readouterr().out


def test_unknown_site_and_bad_format_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "inv"
    write_inventory(inventory, closed_port())
    assert run(["--inventory", str(inventory), "verify", "--site", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert run(["--inventory", str(inventory), "verify", "--format", "xml"]) == 2
    missing = tmp_path / "none.sqlite"
    assert run(["--inventory", str(inventory), "verify", "--client-log", str(missing)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_bad_db_fails_before_any_device_is_contacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    not_a_db = tmp_path / "history.sqlite"
    not_a_db.write_text("this is not sqlite\n" * 100)
    with socket.socket() as device:  # a "device" that records whether anyone knocked
        device.bind(("127.0.0.1", 0))
        device.listen(8)
        inventory = tmp_path / "inv"
        write_inventory(inventory, device.getsockname()[1])
        code = run(["--inventory", str(inventory), "verify", "--db", str(not_a_db)])
        device.settimeout(0.2)
        with pytest.raises(TimeoutError):
            device.accept()  # nobody connected: the error came first
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"orch: error: {not_a_db}: the history database is corrupted"), err
    assert "Traceback" not in err
