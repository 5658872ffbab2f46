"""`orch demo` end to end: the real server, the lab, push, verify, report; nothing left behind."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.lab.demo import DemoOptions, run_demo
from orchestrator.models import PushOutcome, Verdict


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _children() -> set[int]:
    """PIDs of this process's children (the demo must leave none behind)."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == me:
                found.add(int(entry.name))
    return found


@pytest.mark.slow
def test_demo_makes_every_lab_device_compliant(tmp_path: Path) -> None:
    before = _children()
    steps: list[str] = []
    result = run_demo(
        DemoOptions(workdir=tmp_path, ntp_port=_free_udp_port(), wait_s=60),
        on_step=steps.append,
    )
    assert result.verify is not None
    verdicts = {v.host: v for v in result.verify.verdicts}
    platforms = {v.platform for v in verdicts.values()}
    assert {"cisco_ios", "cisco_catos", "windows"} <= platforms
    not_ok = {h: (v.verdict.value, v.reason) for h, v in verdicts.items() if not v.complies}
    assert not not_ok, not_ok
    assert all(v.verdict is Verdict.COMPLIANT for v in verdicts.values())
    # Every device was really changed by the push (the lab starts unconfigured).
    assert {r.outcome for r in result.push} == {PushOutcome.CHANGED}
    # The two-sided check ran: our server saw each device poll it.
    assert result.verify.client_log_available
    assert result.report_path is not None and result.report_path.exists()
    html = result.report_path.read_text()
    assert "<svg" in html and "lab-rtr1" in html
    assert (tmp_path / "history.sqlite").exists()
    assert steps[0].startswith("starting the NTP server")
    assert _children() <= before, "the demo left processes running"


def test_demo_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo", "--ntp-port", "0"]) == 2
    assert "Traceback" not in capsys.readouterr().err
