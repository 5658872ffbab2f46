"""`orch verify` then `orch report` through the CLI, against lab devices and our server."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.lab import DeviceSpec, Faults, Lab, LabSpec
from verify.test_verify_lab_e2e import InProcessServer

pytestmark = pytest.mark.slow
SSH_PORT = 2323


def write_inventory(directory: Path, server_port: int) -> None:
    directory.mkdir()
    (directory / "defaults.yaml").write_text(
        f"""port: {SSH_PORT}
username: admin
password: orch-lab
data:
  site: e2e
  enable_secret: orch-lab
  ntp:
    servers:
      - address: 127.0.0.1
        port: {server_port}
    thresholds:
      max_offset_ms: 100
"""
    )
    (directory / "groups.yaml").write_text("ios:\n  platform: cisco_ios\n")
    (directory / "hosts.yaml").write_text(
        "cli-ok:\n  hostname: 127.0.1.211\n  groups: [ios]\n"
        "cli-skew:\n  hostname: 127.0.1.212\n  groups: [ios]\n"
    )


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))  # known_hosts, defaults
    server = InProcessServer(tmp_path / "server-clients.sqlite")
    inventory = tmp_path / "inventory"
    write_inventory(inventory, server.port)
    boot = ("ntp server 127.0.0.1",)
    spec = LabSpec(
        devices=(
            DeviceSpec("cli-ok", "cisco_ios", "127.0.1.211", port=SSH_PORT, startup_config=boot),
            DeviceSpec(
                "cli-skew",
                "cisco_ios",
                "127.0.1.212",
                port=SSH_PORT,
                startup_config=boot,
                clock_error_s=-0.8,
                faults=Faults(),
            ),
        ),
        poll_interval_s=0.5,
        ntp_port=server.port,
    )
    try:
        with Lab(spec):
            yield inventory, server.log_path
    finally:
        server.stop()


def test_verify_stores_a_run_and_report_reads_it(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, client_log = setup
    db = tmp_path / "history.sqlite"
    args = ["--inventory", str(inventory), "verify", "--db", str(db)]
    args += ["--client-log", str(client_log), "--accept-new-host-keys", "--format", "json"]
    code = run([*args, "--host", "cli-ok", "--wait", "45", "--poll-interval", "1"])
    first = json.loads(capsys.readouterr().out)
    assert code == 0, first["devices"][0]["reason"]
    assert first["devices"][0]["verdict"] == "compliant"

    code = run(args)
    doc = json.loads(capsys.readouterr().out)
    verdicts = {d["host"]: d for d in doc["devices"]}
    assert code == 1  # cli-skew is 800 ms off
    assert verdicts["cli-ok"]["verdict"] == "compliant"
    assert verdicts["cli-skew"]["verdict"] == "drifting"
    assert "show ntp associations" in verdicts["cli-skew"]["evidence"]["raw"]
    # The enable secret / password never reach the stored evidence.
    assert b"orch-lab" not in db.read_bytes()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)

    out = tmp_path / "report.html"
    assert run(["report", "--db", str(db), "--format", "html", "--out", str(out)]) == 1
    html = out.read_text()
    assert html.count("<svg") == 3 and "cli-skew" in html and "drifting" in html
    assert run(["report", "--db", str(db), "--site", "e2e"]) == 1
    assert "1/2 compliant, 1 drifting" in capsys.readouterr().out
