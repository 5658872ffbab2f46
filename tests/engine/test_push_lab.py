"""`orch push` end to end against the simulated lab: real SSH, real netmiko/paramiko.

Every platform: push -> the device's configuration changed -> push again -> unchanged.
Every lab fault -> the right per-device outcome; where something had been changed, the
configuration read back after the restore is byte-identical to the one before.
"""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from engine.lab_fleet import host_of
from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, load_backup, push_hosts
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.models import Host, PushOutcome, PushResult

READ_BACK = {
    "cisco_ios": "show running-config | include ^ntp",
    "cisco_catos": "show config",
    "windows": "w32tm /query /configuration",
}
SECRETS = ("orch-lab", "k3y-Value-7")

LabFixture = tuple[Lab, dict[str, DeviceEndpoint]]


def _options(tmp_path: Path, known_hosts: Path, **kw: object) -> PushOptions:
    base: dict[str, object] = {
        "known_hosts": known_hosts,
        "accept_new_host_keys": True,
        "backups_dir": tmp_path / "backups",
        "timeout_s": 20.0,
        "connect_timeout_s": 5.0,
        "workers": 8,
    }
    base.update(kw)
    return PushOptions(**base)  # type: ignore[arg-type]


def _read(host: Host, known_hosts: Path) -> str:
    """The device's NTP configuration as its CLI prints it (CatOS: the `set ntp` lines)."""
    with open_session(host, known_hosts=known_hosts, accept_new_host_keys=True) as s:
        text = s.run(READ_BACK[host.platform]).output
    if host.platform == "cisco_catos":  # `show config` also prints the current time
        text = "\n".join(ln for ln in text.splitlines() if ln.startswith("set ntp"))
    return text


def _push(hosts: list[Host], options: PushOptions) -> dict[str, PushResult]:
    _, results = push_hosts(hosts, options)
    for r in results:
        text = r.reason + " ".join(r.warnings) + r.diff
        for secret in SECRETS:
            assert secret not in text, f"{r.host}: a secret leaked into the result"
    return {r.host: r for r in results}


@pytest.mark.parametrize("name", ["ios-ok", "cat-ok", "win-ok"])
def test_platform_end_to_end(lab: LabFixture, name: str, tmp_path: Path, known_hosts: Path) -> None:
    host = host_of(lab[1][name])
    options = _options(tmp_path, known_hosts)
    before = _read(host, known_hosts)

    first = _push([host], options)[name]
    assert first.outcome is PushOutcome.CHANGED, first
    after = _read(host, known_hosts)
    assert after != before
    if host.platform == "cisco_ios":
        assert "ntp server 127.0.0.10 iburst key 7 prefer" in after
        assert "ntp server 127.0.0.11 iburst" in after
        assert "ntp authenticate" in after and "ntp trusted-key 7" in after
        assert "127.0.0.77" not in after  # the stale server is gone
    elif host.platform == "cisco_catos":
        assert "set ntp server 127.0.0.10 key 7" in after
        assert "set ntp client enable" in after
        assert "set ntp authentication enable" in after
        assert "127.0.0.77" not in after
    else:
        assert "NtpServer: 127.0.0.10,0x8 (Local)" in after
        assert "Type: NTP (Local)" in after
    # The backup taken before the change holds what the device had.
    assert first.backup_path is not None
    backup = load_backup(Path(first.backup_path))
    assert backup.host == name
    assert Path(first.backup_path).stat().st_mode & 0o077 == 0

    second = _push([host], options)[name]
    assert second.outcome is PushOutcome.UNCHANGED, second
    assert _read(host, known_hosts) == after


def test_dry_run_prints_diff_and_touches_nothing(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-dry"])
    before = _read(host, known_hosts)
    result = _push([host], _options(tmp_path, known_hosts, dry_run=True))["ios-dry"]
    assert result.outcome is PushOutcome.DRY_RUN
    assert "-ntp server 127.0.0.77" in result.diff
    assert "+ntp server 127.0.0.10 iburst key 7 prefer" in result.diff
    assert "+ntp authentication-key 7 md5 ********" in result.diff
    assert _read(host, known_hosts) == before
    assert not (tmp_path / "backups").exists()


def test_wrong_password_fails_with_a_clear_line(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-badpw"])
    result = _push([host], _options(tmp_path, known_hosts))["ios-badpw"]
    assert result.outcome is PushOutcome.FAILED
    assert result.reason == (
        f"ios-badpw ({host.hostname}:{host.port}): connect: authentication failed "
        "(check username/password or key)"
    )


@pytest.mark.parametrize(
    ("name", "cause", "end"),
    [
        ("ios-reject", "device rejected 'ntp server 127.0.0.10 iburst key 7 prefer'", "restored"),
        ("ios-drop", "session dropped by the device", "restored"),
        ("cat-reject", "device rejected 'set ntp client enable'", "restored"),
        # The refused line carries the key: the reason names it with the value masked.
        # It is the first line sent, and orch stops at a refused line: nothing had changed.
        ("ios-rejkey", "device rejected 'ntp authentication-key 7 md5 ********'", "unchanged"),
    ],
)
def test_failure_mid_change_is_rolled_back_byte_identical(
    lab: LabFixture, name: str, cause: str, end: str, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1][name])
    before = _read(host, known_hosts)
    result = _push([host], _options(tmp_path, known_hosts, connect_timeout_s=3.0))[name]
    if end == "restored":
        assert result.outcome is PushOutcome.ROLLED_BACK, result
        assert cause in result.reason and "the backup was restored" in result.reason
    else:
        assert result.outcome is PushOutcome.FAILED, result
        assert cause in result.reason and "the device is unchanged" in result.reason
    assert result.backup_path is not None
    assert _read(host, known_hosts) == before


def test_windows_drop_on_config_is_restored_and_checked_over_a_new_session(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    # The device drops every `w32tm /config` after taking it, the restore's too: the
    # engine reconnects, reads the device back and only then claims the rollback.
    host = host_of(lab[1]["win-drop"])
    before = _read(host, known_hosts)
    result = _push([host], _options(tmp_path, known_hosts))["win-drop"]
    assert result.outcome is PushOutcome.ROLLED_BACK, result
    assert "session dropped by the device" in result.reason
    assert _read(host, known_hosts) == before


def test_no_calendar_warns_and_second_push_is_unchanged(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-nocal"])
    options = _options(tmp_path, known_hosts)
    first = _push([host], options)["ios-nocal"]
    assert first.outcome is PushOutcome.CHANGED
    assert any("update-calendar" in w and "no hardware calendar" in w for w in first.warnings)
    assert "ntp update-calendar" not in _read(host, known_hosts)
    second = _push([host], options)["ios-nocal"]
    assert second.outcome is PushOutcome.UNCHANGED
    assert any("update-calendar" in w for w in second.warnings)


def test_access_group_that_blocks_our_server_is_reported(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-acl"])
    result = _push([host], _options(tmp_path, known_hosts))["ios-acl"]
    assert result.outcome is PushOutcome.CHANGED
    # The lab's startup config: `access-list 99 permit 10.0.0.0 0.255.255.255` and
    # `ntp access-group peer 99`.
    assert any(
        "'ntp access-group peer 99' blocks 127.0.0.10" in w and "does not permit" in w
        for w in result.warnings
    )


def test_domain_policy_fails_without_touching_the_host(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["win-gpo"])
    before = _read(host, known_hosts)
    result = _push([host], _options(tmp_path, known_hosts))["win-gpo"]
    assert result.outcome is PushOutcome.FAILED
    assert "domain group policy" in result.reason
    assert _read(host, known_hosts) == before


def test_slow_device_times_out_without_stopping_the_others(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    slow = host_of(lab[1]["ios-slow"])
    fine = host_of(lab[1]["ios-nocal"])
    results = _push(
        [slow, fine], _options(tmp_path, known_hosts, timeout_s=1.0, connect_timeout_s=1.0)
    )
    assert results["ios-slow"].outcome is PushOutcome.FAILED
    assert "timed out" in results["ios-slow"].reason or "timeout" in results["ios-slow"].reason
    assert results["ios-nocal"].outcome in (PushOutcome.CHANGED, PushOutcome.UNCHANGED)


def test_host_keys_unknown_refused_then_accepted_and_changed_refused(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["cat-ok"])
    strict = _options(tmp_path, known_hosts, accept_new_host_keys=False, dry_run=True)
    refused = _push([host], strict)["cat-ok"]
    assert refused.outcome is PushOutcome.FAILED
    assert "unknown host key" in refused.reason and "--accept-new-host-keys" in refused.reason

    accepted = _push([host], _options(tmp_path, known_hosts, dry_run=True))["cat-ok"]
    assert accepted.outcome is not PushOutcome.FAILED
    entry = known_hosts.read_text().split()
    assert entry[0] == f"[{host.hostname}]:{host.port}"

    assert _push([host], strict)["cat-ok"].outcome is not PushOutcome.FAILED

    # Same host, another key: always refused, even with --accept-new-host-keys.
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    forged = known_hosts.with_name("forged_known_hosts")
    forged.write_text(f"[{host.hostname}]:{host.port} {other_key.strip()}\n")
    changed = _push([host], _options(tmp_path, forged, dry_run=True))["cat-ok"]
    assert changed.outcome is PushOutcome.FAILED
    assert "host key CHANGED" in changed.reason


def test_without_enable_secret_fails_cleanly_and_changes_nothing(
    lab: LabFixture, tmp_path: Path, known_hosts: Path
) -> None:
    host = host_of(lab[1]["ios-dry"], enable_secret=None)
    before = _read(host_of(lab[1]["ios-dry"]), known_hosts)
    result = _push([host], _options(tmp_path, known_hosts))["ios-dry"]
    assert result.outcome is PushOutcome.FAILED
    # IOS refuses `show running-config` below privilege level 15.
    assert result.reason == (
        f"ios-dry ({host.hostname}:{host.port}): device rejected "
        "'show running-config | include ^ntp' (% Invalid input detected at '^' marker.); "
        "not in privileged mode (give the host an enable_secret)"
    )
    assert _read(host_of(lab[1]["ios-dry"]), known_hosts) == before
