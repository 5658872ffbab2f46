"""`orch push` through the real CLI: data directories that cannot take backups,
`--list-runs` and `--restore RUN_ID`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.lab_fleet import host_of
from engine.test_push_cli import _inventory
from engine.test_push_lab import LabFixture, _read
from engine.test_push_safety import _tmpfs
from orchestrator.cli.app import run
from orchestrator.drivers.base import Backup
from orchestrator.engine.backups import BackupError, store_backup


def _fill(directory: Path) -> None:
    """Write until the filesystem is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(1 << 16):  # bounded: 256 MiB at most
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.root
@pytest.mark.parametrize("state", ["full", "read-only"])
def test_push_into_a_full_or_read_only_data_dir_is_one_line_exit_2_and_touches_nothing(
    lab: LabFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state: str,
) -> None:
    monkeypatch.setenv("ORCH_TEST_LAB_PASSWORD", "orch-lab")
    inv = _inventory(tmp_path, lab[1], ["ios-lock", "cat-rst"])
    known_hosts = tmp_path / "kh"
    before = {n: _read(host_of(lab[1][n]), known_hosts) for n in ("ios-lock", "cat-rst")}
    data = tmp_path / "data"
    with _tmpfs(data, *(("ro",) if state == "read-only" else ())):
        if state == "full":
            _fill(data)
        monkeypatch.setenv("ORCH_DATA_DIR", str(data))
        code = run(["--inventory", str(inv), "push", "--accept-new-host-keys"])
        captured = capsys.readouterr()
        files = [p for p in data.rglob("*") if p.name != "filler" and not p.is_dir()]
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    why = "No space left on device" if state == "full" else "Read-only file system"
    assert lines[0].startswith("orch: error: cannot write backups in ") and why in lines[0]
    assert "no device was touched" in lines[0] and "ORCH_DATA_DIR" in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert files == []  # nothing half-written is left behind
    assert {n: _read(host_of(lab[1][n]), known_hosts) for n in before} == before


@pytest.mark.root
def test_a_backup_on_a_full_disk_fails_whole_and_leaves_no_file(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk") as disk:
        (disk / "run").mkdir()
        _fill(disk)
        backup = Backup("r1", "cisco_ios", config_lines=("ntp server 192.0.2.1",) * 200)
        with pytest.raises(BackupError) as caught:
            store_backup(disk, "run", backup)
        assert list((disk / "run").iterdir()) == []
    assert "No space left on device" in str(caught.value)
    assert str(caught.value).startswith("r1: backup not written (")


def test_list_runs_and_restore_through_the_cli(
    lab: LabFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORCH_TEST_LAB_PASSWORD", "orch-lab")
    names = ["ios-rst", "cat-rst"]
    inv = _inventory(tmp_path, lab[1], names)
    known_hosts = tmp_path / "kh"
    before = {n: _read(host_of(lab[1][n]), known_hosts) for n in names}
    base = ["--inventory", str(inv), "--no-color"]

    assert run([*base, "push", "--list-runs"]) == 0
    assert "no run has backups" in capsys.readouterr().out

    assert run([*base, "push", "--accept-new-host-keys", "--format", "json"]) == 0
    pushed = json.loads(capsys.readouterr().out)
    assert {r["outcome"] for r in pushed["results"]} == {"changed"}
    changed = {n: _read(host_of(lab[1][n]), known_hosts) for n in names}
    assert all(changed[n] != before[n] for n in names)

    assert run([*base, "push", "--list-runs", "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["run_id"], r["hosts"]) for r in runs] == [(pushed["run_id"], sorted(names))]

    # One host first, then the rest: each back byte for byte, the other left alone.
    restore = [*base, "push", "--accept-new-host-keys", "--restore", pushed["run_id"]]
    assert run([*restore, "--host", "cat-rst"]) == 0
    out = capsys.readouterr().out
    assert f"restore of {pushed['run_id']}" in out and "1 changed" in out
    assert _read(host_of(lab[1]["cat-rst"]), known_hosts) == before["cat-rst"]
    assert _read(host_of(lab[1]["ios-rst"]), known_hosts) == changed["ios-rst"]
    assert run(restore) == 0
    assert "1 changed, 1 unchanged" in capsys.readouterr().out
    assert {n: _read(host_of(lab[1][n]), known_hosts) for n in names} == before

    assert run([*base, "push", "--restore", "20200101T000000Z-000000"]) == 2
    err = capsys.readouterr().err
    assert "no backups of run '20200101T000000Z-000000'" in err and "--list-runs" in err
    assert run([*restore, "--host", "ios-nocal"]) == 2
    assert "has no backup of ios-nocal" in capsys.readouterr().err
