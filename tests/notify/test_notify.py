"""Alerts on change without the lab: which changes notify, the command hook gets the
JSON on stdin, the ledger deduplicates, a bad config file is a one-line error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.models import Check, Verdict
from orchestrator.notify import Ledger, Targets, deliver, load_targets, verdict_changes
from orchestrator.store.records import StoredDevice, StoredRun


def device(host: str, verdict: Verdict) -> StoredDevice:
    return StoredDevice(
        host, "hq", "cisco_ios", verdict, f"{host} is {verdict}", None, None, None, None,
        (Check("synchronised", verdict is Verdict.COMPLIANT, "x", "y"),), "{}",
    )  # fmt: skip


def stored(run_id: int, *devices: StoredDevice) -> StoredRun:
    return StoredRun(run_id, 1_800_000_000.0, 1_800_000_005.0, None, (), devices)


def test_only_compliance_flips_of_known_devices_notify() -> None:
    run = stored(
        7,
        device("a", Verdict.DRIFTING),  # compliant -> drifting: notify
        device("b", Verdict.COMPLIANT),  # unsynchronised -> compliant: notify
        device("c", Verdict.UNREACHABLE),  # drifting -> unreachable: still not compliant
        device("d", Verdict.DRIFTING),  # first seen: nothing to change from
    )
    previous = {"a": "compliant", "b": "unsynchronised", "c": "drifting"}
    changes = verdict_changes(previous, run)
    assert [(n.host, n.old_verdict, n.new_verdict) for n in changes] == [
        ("a", "compliant", "drifting"),
        ("b", "unsynchronised", "compliant"),
    ]
    payload = changes[0].payload()
    assert payload["run_id"] == 7 and payload["reason"] == "a is drifting"
    assert payload["time"] == "2027-01-15T08:00:00Z"


def test_command_hook_gets_json_on_stdin_once(tmp_path: Path) -> None:
    out = tmp_path / "hook.out"
    script = tmp_path / "hook.py"
    script.write_text(
        f"import sys\nwith open({str(out)!r}, 'a') as f:\n    f.write(sys.stdin.read() + '\\n')\n"
    )
    changes = verdict_changes({"a": "compliant"}, stored(3, device("a", Verdict.BLOCKED)))
    targets = Targets(commands=(f"{sys.executable} {script}",))
    ledger_path = tmp_path / "ledger.json"
    assert deliver(changes, lambda _n: targets, Ledger(ledger_path)) == []
    # The same event again (a re-run of notification for the same stored run): deduplicated.
    assert deliver(changes, lambda _n: targets, Ledger(ledger_path)) == []
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert (body["host"], body["old_verdict"], body["new_verdict"], body["run_id"]) == (
        "a",
        "compliant",
        "blocked",
        3,
    )


def test_failing_targets_are_reported_not_raised(tmp_path: Path) -> None:
    changes = verdict_changes({"a": "compliant"}, stored(3, device("a", Verdict.BLOCKED)))
    targets = Targets(
        webhooks=("http://127.0.0.1:9/secret-token-path?key=abc",),
        commands=(f"{sys.executable} -c 'import sys; sys.exit(4)'",),
    )
    failures = deliver(changes, lambda _n: targets, Ledger(tmp_path / "l.json"), timeout_s=2)
    assert len(failures) == 2
    assert failures[0].startswith("webhook http://127.0.0.1:9 for a:")
    assert "secret-token-path" not in " ".join(failures) and "abc" not in failures[0]
    assert "exited with status 4" in failures[1]


def test_notify_config_file(tmp_path: Path) -> None:
    good = tmp_path / "notify.toml"
    good.write_text('webhook = "http://127.0.0.1:8080/x"\ncommand = ["logger -t orch"]\n')
    assert load_targets(good) == Targets(("http://127.0.0.1:8080/x",), ("logger -t orch",))
    bad = tmp_path / "bad.toml"
    bad.write_text('webhok = "http://127.0.0.1/"\n')
    with pytest.raises(ConfigError, match="unknown key 'webhok'"):
        load_targets(bad)
    bad.write_text('webhook = "ftp://127.0.0.1/"\n')
    with pytest.raises(ConfigError, match="not an http"):
        load_targets(bad)
