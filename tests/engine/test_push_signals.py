"""SIGINT and SIGTERM in the middle of `orch push` (a real process against the lab).

Slow devices (0.1 s per answer) with 10 stale servers each, on IOS, CatOS and Windows,
four at a time. The signal comes once the first backups are on disk, while devices are
changing. Every device must end fully changed and verified, or byte-identical to its
backup (running and startup configuration); the summary lists every device; the exit
status is 130 or 143. A second signal exits at once and names the devices that may be
half-changed, which `orch push --restore` then puts back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from engine.lab_fleet import host_of, signal_set
from engine.test_push_lab import LabFixture
from orchestrator.cli.app import run
from orchestrator.drivers.linux import LinuxDriver
from orchestrator.drivers.session import open_session
from orchestrator.lab.linux_hosts import LinuxHostPool, missing_requirements
from orchestrator.lab.runtime import DeviceEndpoint
from orchestrator.models import DesiredNtp, Host, NtpServerSpec

GROUPS = {"cisco_ios": "ios", "cisco_catos": "catos", "windows": "windows", "linux": "linux"}
LINUX_NAMES = ("sigint-linux", "sigterm-linux")


@pytest.fixture(scope="module")
def linux_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    """Real Linux hosts (sshd + chronyd -x) where the machine can run them, else none."""
    if os.geteuid() != 0 or missing_requirements():
        yield {}
        return
    pool = LinuxHostPool(
        tmp_path_factory.mktemp("linux"),
        len(LINUX_NAMES),
        base_address="127.0.2.151",
        ssh_port=0,
        names=LINUX_NAMES,
    )
    try:
        infos = pool.start()
        yield {
            i.name: Host(
                name=i.name,
                hostname=i.address,
                platform="linux",
                port=i.port,
                username=i.username,
                password=None,
                site="lab",
                groups=("linux",),
                desired=DesiredNtp((NtpServerSpec("127.0.0.10", prefer=True),)),
                ssh_key_file=str(i.key_file),
            )
            for i in infos
        }
    finally:
        pool.stop()


ALLOWED = {"changed", "interrupted-restored", "skipped", "unchanged"}


def _inventory(
    tmp_path: Path,
    eps: dict[str, DeviceEndpoint],
    names: list[str],
    linux: Sequence[Host] = (),
) -> Path:
    directory = tmp_path / "inventory"
    directory.mkdir()
    (directory / "defaults.yaml").write_text(
        f"port: {eps[names[0]].port}\n"
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
        "".join(f"{g}:\n  platform: {p}\n" for p, g in GROUPS.items())
    )
    (directory / "hosts.yaml").write_text(
        "".join(
            f"{n}:\n  hostname: {eps[n].address}\n  groups: [{GROUPS[eps[n].platform]}]\n"
            for n in names
        )
        + "".join(
            f"{h.name}:\n  hostname: {h.hostname}\n  port: {h.port}\n"
            f"  username: {h.username}\n  groups: [linux]\n"
            f"  data:\n    ssh_key_file: {h.ssh_key_file}\n"
            for h in linux
        )
    )
    return directory


def _state(host: Host, known_hosts: Path) -> tuple[str, str]:
    """(running, startup) NTP configuration as the device prints it (Linux: the files
    orch manages, as they are on disk)."""
    with open_session(host, known_hosts=known_hosts, accept_new_host_keys=True) as s:
        if host.platform == "linux":
            return repr(LinuxDriver().backup(s).files), ""
        if host.platform == "cisco_ios":
            running = s.run("show running-config | include ^ntp").output
            startup = s.run("show startup-config").output
            startup = "\n".join(ln for ln in startup.splitlines() if ln.startswith("ntp "))
            return running, startup
        if host.platform == "cisco_catos":  # every `set` goes to NVRAM as it is entered
            text = s.run("show config").output
            return "\n".join(ln for ln in text.splitlines() if ln.startswith("set ntp")), ""
        return s.run("w32tm /query /configuration").output, ""


def _desired(host: Host, running: str) -> bool:
    if host.platform == "linux":
        return "server 127.0.0.10 " in running
    if host.platform == "cisco_ios":
        return running.count("ntp server ") == 1 and "ntp server 127.0.0.10" in running
    if host.platform == "cisco_catos":
        return running.count("set ntp server ") == 1 and "set ntp server 127.0.0.10" in running
    return "NtpServer: 127.0.0.10,0x8" in running


def _start(tmp_path: Path, inventory: Path, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ORCH_DATA_DIR": str(tmp_path / "data"),
        "ORCH_TEST_LAB_PASSWORD": "orch-lab",
    }
    command = [sys.executable, "-m", "orchestrator", "--inventory", str(inventory), "push"]
    return subprocess.Popen(
        [*command, "--accept-new-host-keys", "--workers", "4", "--format", "json", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_backups(tmp_path: Path, proc: subprocess.Popen[str], count: int) -> None:
    """Until `count` backups are on disk: those devices are changing now."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(list((tmp_path / "data" / "backups").glob("*/*.json"))) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no backup was written within 60 s")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_push_leaves_every_device_changed_or_as_it_was(
    lab: LabFixture, tmp_path: Path, signum: signal.Signals, linux_hosts: dict[str, Host]
) -> None:
    prefix = "sigint" if signum == signal.SIGINT else "sigterm"
    simulated = signal_set(prefix)
    linux = [h for n, h in linux_hosts.items() if n.startswith(prefix)]
    hosts = {n: host_of(lab[1][n]) for n in simulated} | {h.name: h for h in linux}
    names = list(hosts)
    known_hosts = tmp_path / "kh"
    before = {n: _state(h, known_hosts) for n, h in hosts.items()}
    proc = _start(tmp_path, _inventory(tmp_path, lab[1], simulated, linux))
    _wait_for_backups(tmp_path, proc, 2)
    time.sleep(0.3)
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert f"orch: {signum.name}: starting no more devices" in err
    report = json.loads(out)
    assert report["interrupted"] == f"interrupted ({signum.name})"
    outcomes = {r["host"]: r["outcome"] for r in report["results"]}
    assert sorted(outcomes) == sorted(names)  # the summary lists every device
    assert set(outcomes.values()) <= ALLOWED, outcomes
    assert "interrupted-restored" in outcomes.values(), outcomes  # it did land mid-change
    assert "skipped" in outcomes.values(), outcomes  # and stopped new devices from starting
    for name, host in hosts.items():
        running, startup = _state(host, known_hosts)
        if outcomes[name] == "changed":
            assert _desired(host, running), (name, running)
            if host.platform == "cisco_ios":
                assert [ln for ln in running.splitlines() if ln.startswith("ntp ")] == (
                    startup.splitlines()
                ), name
        else:
            assert (running, startup) == before[name], (name, outcomes[name])


def test_a_second_signal_exits_at_once_naming_devices_that_may_be_inconsistent(
    lab: LabFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = signal_set("force")
    hosts = {n: host_of(lab[1][n]) for n in names}
    known_hosts = tmp_path / "kh"
    before = {n: _state(h, known_hosts) for n, h in hosts.items()}
    inventory = _inventory(tmp_path, lab[1], names)
    proc = _start(tmp_path, inventory)
    _wait_for_backups(tmp_path, proc, 2)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 10  # at once, not after the restores
    assert proc.returncode == 143, err
    assert out == ""  # no summary: the process did not wait for one
    line = next(ln for ln in err.splitlines() if "forced exit" in ln)
    assert "devices that may be inconsistent: " in line
    named = [n for n in names if f"{n} (" in line]
    assert named, line
    hint = next(ln for ln in err.splitlines() if "orch push --restore" in ln)
    run_id = hint.split("--restore ")[1].split()[0]

    # What the hint says to do puts them back byte for byte.
    monkeypatch.setenv("ORCH_TEST_LAB_PASSWORD", "orch-lab")
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    code = run(
        ["--inventory", str(inventory), "push", "--accept-new-host-keys", "--restore", run_id]
    )
    assert code == 0, capsys.readouterr()
    assert {n: _state(h, known_hosts) for n, h in hosts.items()} == before
