"""The pieces a safe push is built from, without a device: the guarded session that
stops between chunks, and the backups directory."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from orchestrator.drivers.base import Backup, CommandResult
from orchestrator.engine.backups import (
    check_writable,
    list_runs,
    load_backup,
    run_backups,
    store_backup,
)
from orchestrator.engine.guard import GuardedSession, Stopped
from orchestrator.errors import InputError
from orchestrator.models import DesiredNtp, Host


class Recorder:
    host = Host("r1", "192.0.2.1", "cisco_ios", 22, "admin", None, "hq", (), DesiredNtp(()))

    def __init__(self) -> None:
        self.blocks: list[list[str]] = []

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        self.blocks.append([command])
        return CommandResult(command, "")

    def configure(self, lines: Sequence[str]) -> str:
        self.blocks.append(list(lines))
        return ""

    def save(self) -> str:
        return ""

    def close(self) -> None:
        pass


LINES = [f"ntp server 192.0.2.{i}" for i in range(10)]


def test_a_fast_device_gets_its_change_in_one_block() -> None:
    inner = Recorder()
    GuardedSession(inner, lambda: None, line_s=0.001).configure(LINES)
    assert inner.blocks == [LINES]


def test_a_slow_device_gets_chunks_and_a_stop_falls_between_them() -> None:
    inner = Recorder()
    asked = []

    def check() -> str | None:
        asked.append(1)
        return "interrupted (SIGTERM)" if len(asked) > 1 else None

    guarded = GuardedSession(inner, check, chunk_s=2.0, line_s=1.0)
    with pytest.raises(Stopped) as caught:
        guarded.configure(LINES)
    # The first chunk (2 s at 1 s a line) went out whole, the rest never did.
    assert inner.blocks == [LINES[:2]]
    assert str(caught.value) == "r1: interrupted (SIGTERM)" and not caught.value.timed_out
    with pytest.raises(Stopped):
        guarded.run("write memory")
    assert inner.blocks == [LINES[:2]]


def test_chunks_follow_how_fast_the_device_answered() -> None:
    inner = Recorder()
    GuardedSession(inner, lambda: None, chunk_s=2.0, line_s=1.0).configure(LINES)
    assert inner.blocks == [LINES[:2], LINES[2:]]  # the recorder answers at once


def test_a_time_limit_stop_says_so() -> None:
    guarded = GuardedSession(Recorder(), lambda: "timed out after 5 s during the change")
    with pytest.raises(Stopped) as caught:
        guarded.save()
    assert caught.value.timed_out


def test_backups_are_written_whole_private_and_listed(tmp_path: Path) -> None:
    backup = Backup("r1/a", "cisco_ios", config_lines=("ntp server 192.0.2.1",))
    run_dir = check_writable(tmp_path, "20260101T000000Z-aaaaaa")
    assert list(run_dir.iterdir()) == []  # the probe is gone
    path = store_backup(tmp_path, "20260101T000000Z-aaaaaa", backup)
    assert path.name == "r1_a.json" and path.stat().st_mode & 0o777 == 0o600
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert load_backup(path) == backup
    assert [p.name for p in run_dir.iterdir()] == ["r1_a.json"]  # no temporary file left
    (run_dir / "notes.json").write_text(json.dumps(["not a backup"]))
    (tmp_path / "20250101T000000Z-bbbbbb").mkdir()  # a run without backups is not listed
    (runs,) = list_runs(tmp_path)
    assert runs.run_id == "20260101T000000Z-aaaaaa" and runs.hosts == {"r1/a": path}
    assert run_backups(tmp_path, runs.run_id).hosts == runs.hosts


@pytest.mark.parametrize("run_id", ["nope", "../etc", "..", ""])
def test_an_unknown_run_is_an_input_error_naming_the_known_ones(
    tmp_path: Path, run_id: str
) -> None:
    store_backup(tmp_path, "20260101T000000Z-aaaaaa", Backup("r1", "cisco_ios"))
    with pytest.raises(InputError) as caught:
        run_backups(tmp_path, run_id)
    assert "20260101T000000Z-aaaaaa" in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "backups").write_text("")
    with pytest.raises(InputError) as caught:
        check_writable(tmp_path / "backups", "run")
    assert "cannot write backups in" in str(caught.value) and "\n" not in str(caught.value)
    assert os.listdir(tmp_path) == ["backups"]


def test_exit_status_signal_then_data_dir_then_failures() -> None:
    import io
    import signal

    from rich.console import Console

    from orchestrator.cli.push_cmd import _exit_code
    from orchestrator.engine.signals import RunControl
    from orchestrator.models import PushOutcome, PushResult

    err = Console(file=io.StringIO(), width=200)
    ok = PushResult("r1", "cisco_ios", PushOutcome.CHANGED)
    failed = PushResult("r2", "cisco_ios", PushOutcome.FAILED, reason="r2: refused")
    no_backup = PushResult(
        "r3",
        "cisco_ios",
        PushOutcome.FAILED,
        reason="r3: backup not written (/d/b/r3.json: No space left on device); "
        "the device was not touched",
        error_kind="backup",
    )
    interrupted = PushResult("r4", "cisco_ios", PushOutcome.INTERRUPTED)
    assert _exit_code([ok], RunControl(), err) == 0
    assert _exit_code([ok, failed], RunControl(), err) == 1
    assert _exit_code([ok, interrupted], RunControl(), err) == 1
    assert _exit_code([ok, failed, no_backup], RunControl(), err) == 2
    line = err.file.getvalue()  # type: ignore[attr-defined]
    assert line == (
        "orch: error: backup not written (/d/b/r3.json: No space left on device); "
        "the device was not touched\n"
    )
    stopped = RunControl()
    stopped.request_stop(signal.SIGTERM)
    assert _exit_code([ok, no_backup], stopped, err) == 143
    stopped = RunControl()
    stopped.request_stop(signal.SIGINT)
    stopped.request_stop(signal.SIGTERM)  # the first signal decides
    assert _exit_code([ok], stopped, err) == 130 and stopped.requests == 2


def test_waiting_for_a_lock_gives_up_when_the_run_stops(tmp_path: Path) -> None:
    import time

    from orchestrator.engine.locks import DeviceBusy, device_lock

    with device_lock(tmp_path, "r1", what="push run a"):
        t0 = time.monotonic()
        second = device_lock(tmp_path, "r1", what="push run b", wait_s=30, give_up=lambda: True)
        with pytest.raises(DeviceBusy), second:
            pass
        assert time.monotonic() - t0 < 5
