"""`orch push` through the real CLI (inventory -> engine -> lab devices -> table/json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.lab.runtime import DeviceEndpoint, Lab

LabFixture = tuple[Lab, dict[str, DeviceEndpoint]]


def _inventory(tmp_path: Path, eps: dict[str, DeviceEndpoint], names: list[str]) -> Path:
    directory = tmp_path / "inventory"
    directory.mkdir()
    port = eps[names[0]].port
    (directory / "defaults.yaml").write_text(
        f"port: {port}\n"
        "username: admin\n"
        "password: ${env:ORCH_TEST_LAB_PASSWORD}\n"
        "data:\n"
        "  site: lab\n"
        "  enable_secret: ${env:ORCH_TEST_LAB_PASSWORD}\n"
        "  sites:\n"
        "    lab:\n"
        "      networks: ['127.0.0.0/8']\n"
        "  ntp:\n"
        "    servers:\n"
        "      - address: 127.0.0.10\n"
        "        prefer: true\n"
        "    update_calendar: false\n"
    )
    (directory / "groups.yaml").write_text(
        "ios:\n  platform: cisco_ios\ncatos:\n  platform: cisco_catos\n"
    )
    hosts = []
    for name in names:
        group = "ios" if eps[name].platform == "cisco_ios" else "catos"
        hosts.append(f"{name}:\n  hostname: {eps[name].address}\n  groups: [{group}]\n")
    (directory / "hosts.yaml").write_text("\n".join(hosts))
    return directory


@pytest.fixture()
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORCH_TEST_LAB_PASSWORD", "orch-lab")


def test_push_json_then_unchanged_and_failure_exit_code(
    lab: LabFixture, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = _inventory(tmp_path, lab[1], ["ios-acl", "ios-badpw", "cat-reject"])
    base = ["--inventory", str(inv), "push", "--accept-new-host-keys", "--format", "json"]

    code = run([*base, "--host", "ios-acl"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    (only,) = out["results"]
    assert only["host"] == "ios-acl" and only["outcome"] in ("changed", "unchanged")
    assert out["summary"]["failed"] == 0

    code = run([*base, "--host", "ios-acl"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["results"][0]["outcome"] == "unchanged"

    code = run([*base, "--site", "lab"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    by_host = {r["host"]: r for r in out["results"]}
    assert code == 1
    assert by_host["ios-badpw"]["outcome"] == "failed"
    assert "authentication failed" in by_host["ios-badpw"]["reason"]
    assert by_host["cat-reject"]["outcome"] == "rolled-back"
    assert "orch-lab" not in captured.out + captured.err
    # The backups of this run are on disk under the data directory.
    assert (tmp_path / "data" / "backups" / out["run_id"]).is_dir()


def test_push_dry_run_table_shows_diff(
    lab: LabFixture, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = _inventory(tmp_path, lab[1], ["cat-ok"])
    code = run(
        [
            "--inventory",
            str(inv),
            "push",
            "--dry-run",
            "--accept-new-host-keys",
            "--platform",
            "cisco_catos",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "(dry run)" in out and "cat-ok" in out


def test_push_filters_that_match_nothing_are_input_errors(
    lab: LabFixture, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = _inventory(tmp_path, lab[1], ["cat-ok"])
    assert run(["--inventory", str(inv), "push", "--site", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert run(["--inventory", str(inv), "push", "--format", "yaml"]) == 2


def test_push_table_names_outcomes_and_backups(
    lab: LabFixture, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = _inventory(tmp_path, lab[1], ["ios-cli"])
    code = run(["--inventory", str(inv), "--no-color", "push", "--accept-new-host-keys"])
    out = capsys.readouterr().out
    assert code == 0
    assert "ios-cli" in out and "changed" in out and "1 changed" in out
    assert f"backups of the changed devices: {tmp_path / 'data' / 'backups'}" in out


def test_push_table_prints_device_text_literally() -> None:
    import io

    from rich.console import Console

    from orchestrator.cli.push_cmd import _print_table
    from orchestrator.models import PushOutcome, PushResult

    buffer = io.StringIO()
    reason = "source [fd00::1]:22 unreachable"  # "[fd00::1]" parses as a markup tag
    result = PushResult("r1", "cisco_ios", PushOutcome.FAILED, reason=reason)
    _print_table(Console(file=buffer, width=200), "run-1", False, [result])
    assert reason in buffer.getvalue()


def test_push_table_does_not_repeat_the_device_in_its_reason() -> None:
    import io

    from rich.console import Console

    from orchestrator.cli.push_cmd import _print_table
    from orchestrator.models import PushOutcome, PushResult

    buffer = io.StringIO()
    reason = "sw1 (192.0.2.5:22): connect: unknown host key; run with --accept-new-host-keys"
    result = PushResult("sw1", "cisco_ios", PushOutcome.FAILED, reason=reason)
    _print_table(Console(file=buffer, width=200), "run-1", False, [result])
    out = buffer.getvalue()
    assert "connect: unknown host key; run with --accept-new-host-keys" in out
    assert "192.0.2.5:22" not in out and out.count("sw1") == 1
