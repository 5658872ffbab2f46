"""The monitoring paths against the lab: `orch check`'s four exit codes from real verify
runs, and a verdict change firing exactly one webhook call to a real HTTP server on
loopback (a dead webhook changing nothing)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from verify.test_verify_lab_e2e import InProcessServer

from orchestrator.cli.app import run
from orchestrator.lab import DeviceSpec, Faults, Lab, LabSpec
from reports.test_check_plugin import parse_plugin_output
from reports.test_valid_outputs import report_schema

pytestmark = pytest.mark.slow
SSH_PORT = 2326
BOOT = ("ntp server 127.0.0.1",)


class Webhook:
    """A real HTTP server on 127.0.0.1 that records every POST body."""

    def __init__(self) -> None:
        calls: list[dict[str, Any]] = []
        self.calls = calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                calls.append(
                    {
                        "path": self.path,
                        "type": self.headers.get("Content-Type"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ntp"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def write_inventory(directory: Path, server_port: int, *, max_offset_ms: int, hook: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "defaults.yaml").write_text(
        f"""port: {SSH_PORT}
username: admin
password: orch-lab
data:
  site: mon
  enable_secret: orch-lab
  notify_webhook: {hook}
  ntp:
    servers:
      - address: 127.0.0.1
        port: {server_port}
    thresholds:
      max_offset_ms: {max_offset_ms}
"""
    )
    (directory / "groups.yaml").write_text("ios:\n  platform: cisco_ios\n")
    (directory / "hosts.yaml").write_text(
        "mon-ok:\n  hostname: 127.0.1.221\n  groups: [ios]\n"
        "mon-skew:\n  hostname: 127.0.1.222\n  groups: [ios]\n"
        "mon-noroute:\n  hostname: 127.0.1.223\n  groups: [ios]\n"
    )


@pytest.fixture()
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Path, Webhook]]:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    server = InProcessServer(tmp_path / "server-clients.sqlite")
    hook = Webhook()
    spec = LabSpec(
        devices=(
            DeviceSpec("mon-ok", "cisco_ios", "127.0.1.221", port=SSH_PORT, startup_config=BOOT),
            DeviceSpec(
                "mon-skew",
                "cisco_ios",
                "127.0.1.222",
                port=SSH_PORT,
                startup_config=BOOT,
                clock_error_s=-0.8,
            ),
            DeviceSpec(
                "mon-noroute",
                "cisco_ios",
                "127.0.1.223",
                port=SSH_PORT,
                startup_config=BOOT,
                faults=Faults(unreachable_servers=("127.0.0.1",)),
            ),
        ),
        poll_interval_s=0.5,
        ntp_port=server.port,
    )
    try:
        with Lab(spec):
            yield server.port, server.log_path, hook
    finally:
        hook.close()
        server.stop()


def test_check_exit_codes_and_one_webhook_per_verdict_change(
    lab: tuple[int, Path, Webhook], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, client_log, hook = lab
    inventory = tmp_path / "inventory"
    db = tmp_path / "history.sqlite"
    write_inventory(inventory, port, max_offset_ms=100, hook=hook.url)
    verify = ["--inventory", str(inventory), "verify", "--db", str(db)]
    verify += ["--client-log", str(client_log), "--accept-new-host-keys", "--format", "json"]

    validator = jsonschema.Draft202012Validator(report_schema())

    def verified(text: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(text)
        validator.validate(doc)  # every verify JSON of the lab follows the shipped schema
        return doc

    def check(*args: str) -> str:
        code = run(["--inventory", str(inventory), "check", "--db", str(db), *args])
        return parse_plugin_output(capsys.readouterr().out, code)[0]

    # No run stored yet: UNKNOWN.
    assert check() == "UNKNOWN"
    # Converge the healthy and the skewed device (both must be synchronised).
    assert run([*verify, "--host", "mon-ok", "--wait", "45", "--poll-interval", "1"]) == 0
    capsys.readouterr()
    for _ in range(15):
        run([*verify, "--host", "mon-skew"])
        doc = verified(capsys.readouterr().out)
        if doc["devices"][0]["verdict"] == "drifting":
            break
    assert doc["devices"][0]["verdict"] == "drifting", doc["devices"][0]["reason"]
    assert run(verify) == 1
    capsys.readouterr()

    assert check("--host", "mon-ok") == "OK"
    assert check("--host", "mon-skew") == "WARNING"  # 800 ms over a 100 ms policy
    assert check("--host", "mon-noroute") == "CRITICAL"  # never synchronised
    assert check("--site", "mon") == "CRITICAL"  # the worst device decides
    assert check("--live", "--host", "mon-ok") == "OK"
    assert hook.calls == []  # nothing changed between compliant and not so far

    # The policy widens: mon-skew becomes compliant, one webhook call says so.
    write_inventory(inventory, port, max_offset_ms=2000, hook=hook.url)
    assert run([*verify, "--host", "mon-skew"]) == 0
    stored_id = verified(capsys.readouterr().out)["summary"]["id"]
    assert len(hook.calls) == 1, hook.calls
    call = hook.calls[0]
    assert call["path"] == "/hooks/ntp" and call["type"] == "application/json"
    body = call["body"]
    assert (body["host"], body["old_verdict"], body["new_verdict"]) == (
        "mon-skew",
        "drifting",
        "compliant",
    )
    assert body["run_id"] == stored_id and body["site"] == "mon" and body["reason"]
    assert body["time"].endswith("Z")
    # The same verdict again is no change: no second call.
    assert run([*verify, "--host", "mon-skew"]) == 0
    capsys.readouterr()
    assert len(hook.calls) == 1

    # A dead webhook: the run's result and exit code are what they would be without it.
    write_inventory(inventory, port, max_offset_ms=100, hook=dead_url())
    assert run([*verify, "--host", "mon-skew"]) == 1
    captured = capsys.readouterr()
    assert verified(captured.out)["devices"][0]["verdict"] == "drifting"
    assert "notification not delivered: webhook http://127.0.0.1:" in captured.err
    assert len(hook.calls) == 1
