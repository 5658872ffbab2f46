"""`orch schedule install/remove` into temporary unit dirs and crontab files only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli.app import run

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"


def test_systemd_units_run_verify_then_reports_and_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units"
    reports = tmp_path / "reports"
    code = run(
        [
            "--inventory",
            str(EXAMPLE),  # install checks the inventory loads and has the site
            "schedule",
            "install",
            "--every",
            "1h",
            "--site",
            "hq",
            "--report-dir",
            str(reports),
            "--unit-dir",
            str(units),
        ]
    )
    assert code == 0, capsys.readouterr().err
    service = (units / "orch-verify.service").read_text()
    timer = (units / "orch-verify.timer").read_text()
    assert "OnUnitActiveSec=1h" in timer and "WantedBy=timers.target" in timer
    execs = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    assert len(execs) == 4
    assert execs[0].startswith(f"ExecStart=-{sys.executable} -m orchestrator --inventory ")
    assert " verify --site hq" in execs[0]
    assert f"--format html --out {reports}/ntp-report.html --site hq" in execs[1]
    assert "--format prometheus" in execs[3] and not execs[3].startswith("ExecStart=-")
    assert "enable it with: systemctl" in capsys.readouterr().out  # not enabled: custom dir

    assert run(["schedule", "remove", "--unit-dir", str(units)]) == 0
    assert list(units.iterdir()) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    units = tmp_path / "units"
    assert run(["schedule", "install", "--every", "30m", "--unit-dir", str(units)]) == 0
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(units / "orch-verify.timer")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
    )
    # Only complaints about our own files count (a container may lack other units).
    ours = [line for line in result.stderr.splitlines() if "orch-verify" in line]
    assert ours == [], result.stderr
    assert "OnUnitActiveSec=30min" in (units / "orch-verify.timer").read_text()


def test_cron_line_is_installed_once_and_removed_leaving_other_lines(tmp_path: Path) -> None:
    crontab = tmp_path / "crontab"
    crontab.write_text("MAILTO=ops@example.org\n5 4 * * * /usr/local/bin/backup\n")
    args = ["schedule", "install", "--method", "cron", "--crontab-file", str(crontab)]
    assert run([*args, "--every", "15m", "--report-dir", str(tmp_path / "r")]) == 0
    assert run([*args, "--every", "6h", "--report-dir", str(tmp_path / "r")]) == 0  # replaces
    lines = crontab.read_text().splitlines()
    assert lines[:2] == ["MAILTO=ops@example.org", "5 4 * * * /usr/local/bin/backup"]
    (ours,) = lines[2:]
    assert ours.startswith("0 */6 * * * (") and ours.endswith("# orch-schedule:orch-verify")
    assert " verify; " in ours and "orch_ntp.prom" in ours
    remove = ["schedule", "remove", "--method", "cron", "--crontab-file", str(crontab)]
    assert run(remove) == 0
    assert crontab.read_text().splitlines() == lines[:2]


def test_intervals_cron_cannot_express_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["schedule", "install", "--method", "cron", "--crontab-file", str(tmp_path / "c")]
    assert run([*args, "--every", "7m"]) == 2
    assert "divisors of an hour or a day" in capsys.readouterr().err
    assert run([*args, "--every", "soon"]) == 2
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "moon"], "unknown site 'moon'"),
        (["--report-dir", "/proc/orch-no-such-dir"], "/proc/orch-no-such-dir"),
    ],
)
def test_install_refuses_what_the_job_would_fail_on_every_hour(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units"
    argv = ["--inventory", str(EXAMPLE), "schedule", "install", "--unit-dir", str(units)]
    assert run([*argv, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orch: error: ") and message in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not units.exists()  # nothing installed


def test_install_refuses_a_missing_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--inventory", str(tmp_path / "nope"), "schedule", "install"]
    assert run([*argv, "--unit-dir", str(tmp_path / "units")]) == 2
    assert "inventory directory not found" in capsys.readouterr().err
