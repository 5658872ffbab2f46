"""The napalm driver: per-platform lines (pure) and the push flow through napalm's own
mock driver (napalm.base.mock.MockDriver, fed with get_ntp_servers/compare_config data)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from orchestrator.drivers import get_driver
from orchestrator.drivers.base import Backup
from orchestrator.drivers.napalm_generic import STATE_KEY, NapalmDriver
from orchestrator.engine.push import PushOptions, push_hosts
from orchestrator.engine.verify import verify_hosts
from orchestrator.models import (
    DesiredNtp,
    DeviceVerdict,
    Host,
    NtpServerSpec,
    PushOutcome,
    Secret,
    Verdict,
)

DESIRED = DesiredNtp((NtpServerSpec("127.0.0.10", prefer=True), NtpServerSpec("127.0.0.11")))


def _plan(platform: str, state: dict[str, dict[str, object]], desired: DesiredNtp = DESIRED):  # type: ignore[no-untyped-def]
    driver = NapalmDriver(platform)
    backup = Backup("r1", platform, tuple(state), extra=((STATE_KEY, json.dumps(state)),))
    return driver.render(desired, driver.current(backup), backup)


@pytest.mark.parametrize(
    ("platform", "add", "remove"),
    [
        ("eos", "ntp server 127.0.0.10 prefer iburst", "no ntp server 10.9.9.9"),
        ("nxos", "ntp server 127.0.0.10 prefer", "no ntp server 10.9.9.9"),
        ("iosxr", "ntp server 127.0.0.10 prefer iburst", "no ntp server 10.9.9.9"),
        ("junos", "set system ntp server 127.0.0.10 prefer", "delete system ntp server 10.9.9.9"),
    ],
)
def test_lines_per_platform(platform: str, add: str, remove: str) -> None:
    plan = _plan(platform, {"10.9.9.9": {}, "127.0.0.11": {"prefer": False}})
    assert plan.commands[0] == add
    assert remove in plan.commands
    assert not any("127.0.0.11" in c for c in plan.commands)  # already as wanted
    assert isinstance(get_driver(platform), NapalmDriver)


def test_vrf_forms() -> None:
    desired = DesiredNtp((NtpServerSpec("127.0.0.10", iburst=False),), vrf="MGMT")
    assert _plan("eos", {}, desired).commands == ("ntp server vrf MGMT 127.0.0.10",)
    assert _plan("nxos", {}, desired).commands == ("ntp server 127.0.0.10 use-vrf MGMT",)


def test_compliant_is_noop() -> None:
    state: dict[str, dict[str, object]] = {"127.0.0.10": {"prefer": True}, "127.0.0.11": {}}
    assert _plan("eos", state).is_noop


def _mock_host(path: Path) -> Host:
    return Host(
        name="eos1",
        hostname="127.0.0.1",
        platform="eos",
        port=22,
        username="admin",
        password=Secret("pw"),
        site="lab",
        groups=(),
        desired=DESIRED,
        data=(("napalm_driver", "mock"), ("napalm_mock_path", str(path))),
    )


def _write(path: Path, name: str, data: object) -> None:
    (path / name).write_text(json.dumps(data))


def test_push_through_napalm_mock_commits_and_checks(tmp_path: Path) -> None:
    _write(tmp_path, "get_ntp_servers.1", {"10.9.9.9": {}})
    _write(tmp_path, "load_merge_candidate.1", {})
    _write(tmp_path, "compare_config.1", {"diff": "+ntp server 127.0.0.10 prefer iburst"})
    _write(tmp_path, "commit_config.1", {})
    _write(tmp_path, "get_ntp_servers.2", {"127.0.0.10": {"prefer": True}, "127.0.0.11": {}})
    _, (result,) = push_hosts([_mock_host(tmp_path)], PushOptions(backups_dir=tmp_path / "b"))
    assert result.outcome is PushOutcome.CHANGED, result
    assert "+ntp server 127.0.0.10" in result.diff


def test_rejected_merge_fails_and_leaves_the_device_unchanged(tmp_path: Path) -> None:
    _write(tmp_path, "get_ntp_servers.1", {"10.9.9.9": {}})
    _write(
        tmp_path,
        "load_merge_candidate.1",
        {"exception": "napalm.base.exceptions.MergeConfigException", "args": ["% Invalid input"]},
    )
    _write(tmp_path, "get_ntp_servers.2", {"10.9.9.9": {}})  # nothing was committed
    _, (result,) = push_hosts([_mock_host(tmp_path)], PushOptions(backups_dir=tmp_path / "b"))
    assert result.outcome is PushOutcome.FAILED, result
    assert "candidate rejected: % Invalid input" in result.reason
    assert result.reason.endswith("the device is unchanged")


def test_device_that_does_not_take_the_change_fails_the_check(tmp_path: Path) -> None:
    _write(tmp_path, "get_ntp_servers.1", {"10.9.9.9": {}})
    _write(tmp_path, "load_merge_candidate.1", {})
    _write(tmp_path, "compare_config.1", {"diff": "+ntp server 127.0.0.10"})
    _write(tmp_path, "commit_config.1", {})
    _write(tmp_path, "get_ntp_servers.2", {"10.9.9.9": {}})  # re-read: unchanged
    _write(tmp_path, "get_ntp_servers.3", {"10.9.9.9": {}})  # the rollback's look
    _, (result,) = push_hosts([_mock_host(tmp_path)], PushOptions(backups_dir=tmp_path / "b"))
    assert result.outcome is PushOutcome.FAILED
    assert "after the push the device still differs" in result.reason
    assert result.reason.endswith("the device is unchanged")


# --------------------------------------------------------------------------- verify

# Shapes as napalm's drivers return them: eos/junos read ntpq columns (ms, reach as the
# printed octal digits), nxos reads `show ntp peer-status` (delay in s, offset hard-coded).
EOS_STATS = [
    {"remote": "127.0.0.10", "referenceid": "127.127.1.1", "synchronized": True, "stratum": 3,
     "type": "u", "when": "5m", "hostpoll": 64, "reachability": 377, "delay": 0.418,
     "offset": -0.048, "jitter": 0.012},
    {"remote": "127.0.0.11", "referenceid": ".INIT.", "synchronized": False, "stratum": 16,
     "type": "u", "when": "-", "hostpoll": 64, "reachability": 0, "delay": 0.0,
     "offset": 0.0, "jitter": 0.0},
]  # fmt: skip


def _verify(tmp_path: Path, platform: str, stats: object) -> DeviceVerdict:
    _write(tmp_path, "get_ntp_servers.1", {"127.0.0.10": {"prefer": True}, "127.0.0.11": {}})
    _write(tmp_path, "get_ntp_stats.1", stats)
    host = dataclasses.replace(_mock_host(tmp_path), platform=platform)
    (verdict,) = verify_hosts([host]).verdicts
    return verdict


def test_verify_through_napalm_reads_get_ntp_stats(tmp_path: Path) -> None:
    verdict = _verify(tmp_path, "eos", EOS_STATS)
    assert verdict.verdict is Verdict.COMPLIANT, verdict.reason
    assert verdict.offset_ms == -0.048 and verdict.peer == "127.0.0.10"
    synced, down = verdict.state.associations if verdict.state else ((), ())
    assert (synced.reach, synced.state, synced.when_s) == (255, "sys.peer", 300)
    assert synced.delay_ms == 0.418 and synced.jitter_ms == 0.012
    assert (down.reach, down.state, down.when_s) == (0, "unreachable", None)


def test_verify_through_napalm_nxos_has_no_offset_and_delay_in_seconds(tmp_path: Path) -> None:
    stats = [dict(EOS_STATS[0], delay=0.01311, offset=0.0, jitter=0.0, when="", type="")]
    verdict = _verify(tmp_path, "nxos", stats)
    assert verdict.verdict is Verdict.COMPLIANT, verdict.reason
    (assoc,) = verdict.state.associations if verdict.state else ()
    assert assoc.offset_ms is None and assoc.jitter_ms is None  # napalm's 0.0 is not a reading
    assert assoc.delay_ms == 13.11 and assoc.reach == 255


def test_verify_through_napalm_not_synchronised(tmp_path: Path) -> None:
    stats = [dict(e, synchronized=False, reachability=17) for e in EOS_STATS]
    verdict = _verify(tmp_path, "junos", stats)
    assert verdict.verdict is Verdict.UNSYNCHRONISED, verdict.reason
    assert verdict.state is not None and verdict.state.associations[0].reach == 0o17


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        ([dict(EOS_STATS[0], reachability=388)], "reach '388' is not an octal number"),
        ([{"remote": "127.0.0.10"}], "entry 1: missing 'reachability'"),
        ({"not": "a list"}, "returned dict, not a list"),
    ],
)
def test_verify_through_napalm_malformed_stats_say_so(
    tmp_path: Path, stats: object, message: str
) -> None:
    verdict = _verify(tmp_path, "eos", stats)
    assert verdict.verdict is not Verdict.COMPLIANT
    assert message in verdict.reason, verdict.reason
