"""The root command: help, version, exit-code mapping."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator.cli.app import run


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in (
        "inventory",
        "server",
        "lab",
        "parse",
        "push",
        "verify",
        "report",
        "schedule",
        "demo",
    ):
        assert command in out


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["frobnicate"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("orch ")
