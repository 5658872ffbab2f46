"""A push never leaves a device worse than it found it: time limits, backups that cannot be
written, two runs on one device, and restoring a run's backups (lab end to end)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.lab_fleet import host_of
from engine.test_push_lab import LabFixture, _options, _read
from orchestrator.drivers.base import Session
from orchestrator.engine.backups import DataDirError, list_runs, load_backup, run_backups
from orchestrator.engine.locks import DeviceBusy, device_lock
from orchestrator.engine.push import push_hosts, ssh_opener
from orchestrator.engine.restore import restore_hosts
from orchestrator.engine.verify import ssh_collector
from orchestrator.models import Host, PushOutcome
from orchestrator.type7 import decode_type7


def test_time_limit_shorter_than_the_change_restores_and_reports_the_backup(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-slow20"])
    before = _read(host, known_hosts)
    # Reading the device takes this long here; the change (25 lines at 0.1 s or more
    # each, in chunks) takes well over a second more.
    _, (dry,) = push_hosts([host], _options(tmp_path, known_hosts, dry_run=True))
    assert dry.outcome is PushOutcome.DRY_RUN
    limit = round(dry.duration_s + 1.0, 1)
    options = _options(tmp_path, known_hosts, timeout_s=limit, restore_timeout_s=60.0)
    _, (result,) = push_hosts([host], options)
    assert result.outcome is PushOutcome.ROLLED_BACK, result.reason
    assert f"timed out after {limit:g} s during the change" in result.reason
    assert "the backup was restored" in result.reason
    assert result.error_kind == "timeout"
    assert result.backup_path is not None
    assert len(load_backup(Path(result.backup_path)).config_lines) == 20
    assert _read(host, known_hosts) == before


def test_a_restore_that_outlasts_its_own_limit_says_so_and_names_the_backup(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-slow20"])
    before = _read(host, known_hosts)
    _, (dry,) = push_hosts([host], _options(tmp_path, known_hosts, dry_run=True))
    limit = round(dry.duration_s + 1.0, 1)
    options = _options(tmp_path, known_hosts, timeout_s=limit, restore_timeout_s=0.5)
    _, (result,) = push_hosts([host], options)
    assert result.outcome is PushOutcome.FAILED, result.reason
    assert f"timed out after {limit:g} s during the change" in result.reason
    assert "restore failed: ios-slow20: the restore timed out after 0.5 s" in result.reason
    assert f"the device may be inconsistent; backup: {result.backup_path}" in result.reason
    assert result.backup_path is not None and Path(result.backup_path).is_file()
    # The backup it names puts the device back.
    source = run_backups(options.backups, Path(result.backup_path).parent.name)
    _, (restored,) = restore_hosts([host], source, _options(tmp_path, known_hosts))
    assert restored.outcome is PushOutcome.CHANGED, restored.reason
    assert _read(host, known_hosts) == before


@contextlib.contextmanager
def _tmpfs(path: Path, *options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(("size=64k", *options)), "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.root
def test_read_only_data_dir_fails_before_any_device_is_touched(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-lock"])
    before = _read(host, known_hosts)
    with _tmpfs(tmp_path / "ro", "ro") as ro, pytest.raises(DataDirError) as caught:
        push_hosts([host], _options(tmp_path, known_hosts, backups_dir=ro / "backups"))
    message = str(caught.value)
    assert "\n" not in message and "Read-only file system" in message
    assert "no device was touched" in message
    assert _read(host, known_hosts) == before


@pytest.mark.root
def test_a_backup_that_cannot_be_written_leaves_its_device_untouched(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    # The run's directory passes the check, then goes read-only before the device's
    # backup is written (a read-only tmpfs mounted over it, as a disk that errors out
    # is remounted read-only).
    host = host_of(lab[1]["ios-lock"])
    before = _read(host, known_hosts)
    options = _options(tmp_path, known_hosts)
    real = ssh_opener(options)
    run_dir = options.backups / "run-ro"
    stack = contextlib.ExitStack()

    def opener(h: Host) -> Session:
        stack.enter_context(_tmpfs(run_dir, "ro"))
        return real(h)

    with stack:
        _, (result,) = push_hosts([host], options, run_id="run-ro", opener=opener)
    assert result.outcome is PushOutcome.FAILED
    assert result.error_kind == "backup"
    assert result.reason.startswith("ios-lock: backup not written (")
    assert "Read-only file system" in result.reason and "not touched" in result.reason
    assert "\n" not in result.reason
    assert list(run_dir.iterdir()) == []  # no empty or partial backup file
    assert _read(host, known_hosts) == before


def test_two_pushes_never_interleave_on_one_device(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-lock"])
    options = _options(tmp_path, known_hosts)
    real = ssh_opener(options)
    holding = threading.Event()
    release = threading.Event()

    def slow_opener(h: Host) -> Session:
        holding.set()
        assert release.wait(30)
        return real(h)

    first: list[PushOutcome] = []
    worker = threading.Thread(
        target=lambda: first.extend(
            r.outcome for r in push_hosts([host], options, opener=slow_opener)[1]
        )
    )
    worker.start()
    try:
        assert holding.wait(30)
        _, (second,) = push_hosts([host], _options(tmp_path, known_hosts, lock_wait_s=0.5))
    finally:
        release.set()
        worker.join(60)
    assert second.outcome is PushOutcome.FAILED and second.error_kind == "busy"
    assert "another orch run (pid " in second.reason and "push run " in second.reason
    assert "nothing was done" in second.reason
    assert first == [PushOutcome.CHANGED]
    # Waiting long enough is enough: the device is free again.
    _, (third,) = push_hosts([host], _options(tmp_path, known_hosts, lock_wait_s=5.0))
    assert third.outcome is PushOutcome.UNCHANGED


def test_restore_of_a_run_puts_the_fleet_back_byte_identically(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    hosts = [host_of(lab[1][n]) for n in ("ios-rst", "cat-rst", "win-rst")]
    before = {h.name: _read(h, known_hosts) for h in hosts}
    options = _options(tmp_path, known_hosts)
    run_id, pushed = push_hosts(hosts, options)
    assert [r.outcome for r in pushed] == [PushOutcome.CHANGED] * 3
    assert all(_read(h, known_hosts) != before[h.name] for h in hosts)
    assert run_id in [r.run_id for r in list_runs(options.backups)]

    source = run_backups(options.backups, run_id)
    assert sorted(source.hosts) == sorted(before)
    restore_id, restored = restore_hosts(hosts, source, options)
    assert [r.outcome for r in restored] == [PushOutcome.CHANGED] * 3, restored
    assert all(f"restored the backup of run {run_id}" in r.reason for r in restored)
    assert {h.name: _read(h, known_hosts) for h in hosts} == before
    # The restore backed up what it replaced: it can be undone the same way.
    assert sorted(run_backups(options.backups, restore_id).hosts) == sorted(before)
    _, again = restore_hosts(hosts, source, options)
    assert [r.outcome for r in again] == [PushOutcome.UNCHANGED] * 3


def test_verify_waits_for_a_device_a_push_is_changing_then_reads_it(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-lock"])
    locks = tmp_path / "locks"
    collect = ssh_collector(
        timeout_s=2.0, known_hosts=known_hosts, accept_new_host_keys=True, locks_dir=locks
    )
    with device_lock(locks, host.name, what="push run r-1"):
        with pytest.raises(DeviceBusy) as caught:
            collect(host)
        assert f"(pid {os.getpid()}, push run r-1)" in str(caught.value)
    # Two readers at once are fine: verify only takes a shared lock.
    with device_lock(locks, host.name, what="verify", exclusive=False):
        collected = collect(host)
    assert collected.state is not None and collected.state.host == host.name


def test_catos_key_rotation_is_a_change_and_says_what_it_cannot_undo(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["cat-rot"])  # key 7 holds another value than the inventory's
    before = _read(host, known_hosts)
    options = _options(tmp_path, known_hosts)
    _, (first,) = push_hosts([host], options)
    assert first.outcome is PushOutcome.CHANGED, first.reason
    assert any("NTP key 7 gets a new value" in w for w in first.warnings)
    after = _read(host, known_hosts)
    shown = next(ln for ln in after.splitlines() if ln.startswith("set ntp key 7 "))
    assert decode_type7(shown.split()[-1]) == "k3y-Value-7"
    assert [ln for ln in after.splitlines() if not ln.startswith("set ntp key")] == [
        ln for ln in before.splitlines() if not ln.startswith("set ntp key")
    ]
    _, (second,) = push_hosts([host], options)
    assert second.outcome is PushOutcome.UNCHANGED, second.reason
    assert not second.warnings


def test_a_host_the_runner_gave_up_on_still_reports_its_backup() -> None:
    from orchestrator.engine.push import RunState, result_of
    from orchestrator.engine.runner import TIMEOUT_KIND, HostOutcome
    from orchestrator.models import DesiredNtp

    host = Host("r1", "192.0.2.1", "cisco_ios", 22, "admin", None, "hq", (), DesiredNtp(()))
    run = RunState("run-1")
    run.wrote("r1", Path("/data/backups/run-1/r1.json"))
    abandoned = HostOutcome(host, None, "r1: timed out (no result within 9 s)", TIMEOUT_KIND, 9.0)
    result = result_of(abandoned, run)
    assert result.outcome is PushOutcome.FAILED and result.error_kind == "timeout"
    assert result.backup_path == "/data/backups/run-1/r1.json"
