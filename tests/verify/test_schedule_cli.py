"""`orch schedule install/remove` into temporary unit dirs and crontab files only."""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import schedule_cmd
from orchestrator.cli.app import run
from orchestrator.envfile import read_env_file

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"


def test_systemd_units_run_the_job_and_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    units = tmp_path / "units"
    reports = tmp_path / "reports"
    secrets = tmp_path / "etc" / "schedule.env"
    monkeypatch.setenv("ORCH_PASSWORD", 'Zq9 it\'s a "pw" $x')
    monkeypatch.delenv("ORCH_ENABLE_SECRET", raising=False)
    code = run([
        "--inventory", str(EXAMPLE),  # install checks the inventory loads and has the site
        "schedule", "install", "--every", "1h", "--site", "hq", "--report-dir", str(reports),
        "--unit-dir", str(units), "--env-file", str(secrets),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    service = (units / "orch-verify.service").read_text()
    timer = (units / "orch-verify.timer").read_text()
    assert "OnUnitActiveSec=1h" in timer and "WantedBy=timers.target" in timer
    (exec_start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    # one job, no '-': a verify that cannot run fails the unit
    assert exec_start.startswith(f"ExecStart={sys.executable} -m orchestrator --inventory ")
    assert f" schedule run --report-dir {reports} --env-file {secrets} --site hq" in exec_start
    # the secrets file: root-only, the variables' current values, placeholders for the rest
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert read_env_file(secrets) == {"ORCH_PASSWORD": 'Zq9 it\'s a "pw" $x'}
    assert "#ORCH_ENABLE_SECRET=" in secrets.read_text()
    captured = capsys.readouterr()
    assert "enable it with: systemctl" in captured.out  # not enabled: custom dir
    assert "ORCH_ENABLE_SECRET" in captured.err
    assert "Zq9" not in captured.out + captured.err + service

    assert run(["schedule", "remove", "--unit-dir", str(units)]) == 0
    assert list(units.iterdir()) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    units = tmp_path / "units"
    env = ["--env-file", str(tmp_path / "s.env"), "--report-dir", str(tmp_path / "r")]
    assert run(["schedule", "install", "--every", "30m", "--unit-dir", str(units), *env]) == 0
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
    args += ["--env-file", str(tmp_path / "s.env")]
    assert run([*args, "--every", "15m", "--report-dir", str(tmp_path / "r")]) == 0
    assert run([*args, "--every", "6h", "--report-dir", str(tmp_path / "r")]) == 0  # replaces
    lines = crontab.read_text().splitlines()
    assert lines[:2] == ["MAILTO=ops@example.org", "5 4 * * * /usr/local/bin/backup"]
    (ours,) = lines[2:]
    assert ours.startswith("0 */6 * * * ") and ours.endswith("# orch-schedule:orch-verify")
    assert f" schedule run --report-dir {tmp_path / 'r'} --env-file {tmp_path / 's.env'}" in ours
    remove = ["schedule", "remove", "--method", "cron", "--crontab-file", str(crontab)]
    assert run(remove) == 0
    assert crontab.read_text().splitlines() == lines[:2]


def test_intervals_cron_cannot_express_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["schedule", "install", "--method", "cron", "--crontab-file", str(tmp_path / "c")]
    args += ["--env-file", str(tmp_path / "s.env"), "--report-dir", str(tmp_path / "r")]
    assert run([*args, "--every", "7m"]) == 2
    assert "divisors of an hour or a day" in capsys.readouterr().err
    assert run([*args, "--every", "soon"]) == 2
    assert sorted(tmp_path.iterdir()) == []  # no crontab, no report dir, no secrets file


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
    argv += ["--env-file", str(tmp_path / "etc" / "s.env")]
    if "--report-dir" not in args:
        argv += ["--report-dir", str(tmp_path / "reports")]
    assert run([*argv, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orch: error: ") and message in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == []  # nothing installed, nothing created


def test_install_refuses_a_missing_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--inventory", str(tmp_path / "nope"), "schedule", "install"]
    argv += ["--env-file", str(tmp_path / "s.env")]
    assert run([*argv, "--unit-dir", str(tmp_path / "units")]) == 2
    assert "inventory directory not found" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:  # a loopback port nobody listens on: connect is refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scheduled_run_reads_its_secrets_and_a_failed_verify_keeps_the_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "defaults.yaml").write_text(
        "username: netops\npassword: ${env:ORCH_SCHED_PW}\n"
        f"port: {_closed_port()}\n"
        "data:\n  sites:\n    hq:\n      networks: ['127.0.0.0/8']\n"
        "  ntp:\n    servers:\n      - address: 127.0.0.1\n"
    )
    (inventory / "groups.yaml").write_text("ios:\n  platform: cisco_ios\n  data:\n    site: hq\n")
    (inventory / "hosts.yaml").write_text("r1:\n  hostname: 127.0.0.1\n  groups: [ios]\n")
    password = "Kq7-sched-Pw"
    monkeypatch.setenv("ORCH_SCHED_PW", password)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    crontab, reports, secrets = tmp_path / "crontab", tmp_path / "reports", tmp_path / "s.env"
    assert run([
        "--inventory", str(inventory), "schedule", "install", "--method", "cron",
        "--crontab-file", str(crontab), "--every", "15m", "--report-dir", str(reports),
        "--env-file", str(secrets),
    ]) == 0  # fmt: skip
    # what cron runs: the line's command, by /bin/sh, with an empty environment
    command = crontab.read_text().splitlines()[-1].split(" ", 5)[5]

    def job() -> int:
        return subprocess.run(
            ["env", "-i", "/bin/sh", "-c", command], timeout=300, check=False
        ).returncode

    assert job() == 0, (reports / "orch-schedule.log").read_text()
    status = json.loads((reports / "orch-schedule-status.json").read_text())
    assert status["result"] == "non-compliant" and status["verify_exit"] == 1  # unreachable
    written = {
        p.name: p.read_bytes() for p in reports.iterdir() if p.name.startswith(("ntp", "orch_"))
    }
    assert set(written) == {"ntp-report.html", "ntp-report.xml", "orch_ntp.prom"}

    # another run still going (it holds the lock): this one is skipped, nothing touched
    with (reports / ".orch-schedule.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert job() == 0
    assert json.loads((reports / "orch-schedule-status.json").read_text()) == status
    assert "this one is skipped" in (reports / "orch-schedule.log").read_text()

    # the secret is gone: verify cannot run, so the job fails and the reports stay
    secrets.write_text("# emptied\n")
    assert job() == 2
    status = json.loads((reports / "orch-schedule-status.json").read_text())
    assert status["result"] == "failed" and status["verify_exit"] == 2
    assert {n: (reports / n).read_bytes() for n in written} == written
    log = (reports / "orch-schedule.log").read_text()
    assert "verify failed (exit 2); the reports were left as they were" in log
    assert password not in log

    # a secrets file others can read is refused, and that too is a failed run
    secrets.write_text(f"ORCH_SCHED_PW={password}\n")
    secrets.chmod(0o644)
    assert job() == 2
    status = json.loads((reports / "orch-schedule-status.json").read_text())
    assert status["result"] == "failed" and "readable by others" in status["message"]
    assert {n: (reports / n).read_bytes() for n in written} == written


def test_a_secrets_file_others_can_read_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "s.env"
    secrets.write_text("ORCH_PASSWORD=x\n")
    secrets.chmod(0o644)
    argv = ["schedule", "install", "--unit-dir", str(tmp_path / "units")]
    argv += ["--env-file", str(secrets), "--report-dir", str(tmp_path / "r")]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "readable by others" in err and f"chmod 600 {secrets}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.env"]


def test_without_systemd_or_cron_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no systemctl, no crontab
    monkeypatch.setattr(schedule_cmd, "systemd_running", lambda: False)
    argv = ["schedule", "install", "--report-dir", str(tmp_path / "reports")]
    assert run([*argv, "--env-file", str(tmp_path / "etc" / "s.env")]) == 2
    assert "neither systemd nor cron" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_systemd_specifiers_and_dollars_reach_the_job_as_written(tmp_path: Path) -> None:
    # systemd expands `%x` specifiers and `${NAME}` in ExecStart: a report directory with
    # a `%` or a `${env:NAME}` password reference must be doubled, or the job gets another
    # path / an empty password.
    units = tmp_path / "units"
    reports = tmp_path / "reports-100%"
    url = "postgresql://orch:${env:ORCH_PG}@db.example.net/ntp"
    args = ["schedule", "install", "--every", "1h", "--unit-dir", str(units)]
    args += ["--env-file", str(tmp_path / "s.env"), "--report-dir", str(reports), "--db", url]
    assert run(args) == 0
    service = (units / "orch-verify.service").read_text()
    (exec_start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    assert f"--report-dir {str(reports).replace('%', '%%')} " in exec_start
    assert '--db "postgresql://orch:$${env:ORCH_PG}@db.example.net/ntp"' in exec_start
    assert "${env:ORCH_PG}" not in exec_start.replace("$${env", "")
