"""A session drop at every step of apply and of restore, per platform, on the lab.

The device takes its k-th NTP change line (`write memory` included) and then drops the
TCP connection (k = 1, 2, ... until the whole apply and the whole restore have been
covered). The engine reconnects and
restores. Every time orch opens a session the device's servers are counted: after any
drop the device holds at least min(servers before, servers desired), never none, and
every push ends with the device byte-identical to its backup (IOS: running and startup).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.lab_fleet import free_port, host_of
from orchestrator.drivers.base import Session
from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, push_hosts, ssh_opener
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.spec import DeviceSpec, Faults, LabSpec
from orchestrator.models import Host, PushOutcome

STALE = [f"127.0.0.{70 + i}" for i in range(3)]
CATOS = (*(f"set ntp server {a}" for a in STALE), "set ntp client enable")
# Devices whose pushes succeed once the drops have run out (nothing is refused).
COMPLETES = ("cat-drops", "win-drops")
READ = {
    "cisco_ios": "show running-config | include ^ntp",
    "cisco_catos": "show config",
    "windows": "w32tm /query /configuration",
}


def _devices(port: int) -> tuple[DeviceSpec, ...]:
    return (
        DeviceSpec(
            "ios-drops",
            "cisco_ios",
            "127.0.1.231",
            port=port,
            startup_config=tuple(f"ntp server {a}" for a in STALE),
            # The apply's first removal is refused: IOS goes on with the rest of the paste,
            # and every push ends with a restore (which never removes that server).
            faults=Faults(reject_commands=(f"no ntp server {STALE[0]}",)),
        ),
        DeviceSpec("cat-drops", "cisco_catos", "127.0.1.232", port=port, startup_config=CATOS),
        # CatOS stops at a refused line: a second device puts the drops into its restores.
        DeviceSpec(
            "cat-rdrops",
            "cisco_catos",
            "127.0.1.234",
            port=port,
            startup_config=CATOS,
            faults=Faults(reject_commands=(f"clear ntp server {STALE[0]}",)),
        ),
        DeviceSpec("win-drops", "windows", "127.0.1.233", port=port),
    )


@pytest.fixture(scope="module")
def drop_lab() -> Iterator[tuple[Lab, dict[str, DeviceEndpoint]]]:
    running = Lab(LabSpec(_devices(free_port()), ntp_port=free_port(), poll_interval_s=None))
    endpoints = running.start()
    try:
        yield running, {e.name: e for e in endpoints}
    finally:
        running.stop()


def _config(session: Session) -> str:
    """The NTP configuration as the device prints it (IOS: running, then startup)."""
    text = session.run(READ[session.host.platform]).output
    if session.host.platform == "cisco_catos":
        text = "\n".join(ln for ln in text.splitlines() if ln.startswith("set ntp"))
    if session.host.platform == "cisco_ios":
        startup = session.run("show startup-config").output.splitlines()
        text += "\n--- startup\n" + "\n".join(ln for ln in startup if ln.startswith("ntp "))
    return text


def _servers(platform: str, text: str) -> int:
    if platform == "windows":
        m = re.search(r"NtpServer: (\S+)", text)
        return len(m.group(1).split(",0x")) - 1 if m else 0
    prefix = "ntp server " if platform == "cisco_ios" else "set ntp server "
    running = text.split("\n--- startup\n")[0]  # the running configuration counts
    return sum(ln.startswith(prefix) for ln in running.splitlines())


@pytest.mark.parametrize("name", ["ios-drops", "cat-drops", "cat-rdrops", "win-drops"])
def test_a_drop_at_every_step_never_loses_a_server(
    drop_lab: tuple[Lab, dict[str, DeviceEndpoint]], name: str, tmp_path: Path
) -> None:
    lab, endpoints = drop_lab
    device = lab.devices[name]
    host: Host = host_of(endpoints[name])
    options = PushOptions(
        known_hosts=tmp_path / "known_hosts",
        accept_new_host_keys=True,
        backups_dir=tmp_path / "backups",
        timeout_s=30.0,
        connect_timeout_s=5.0,
    )
    with open_session(host, known_hosts=options.known_hosts, accept_new_host_keys=True) as s:
        before = _config(s)
    had = _servers(host.platform, before)
    floor = min(had, len(host.desired.servers))
    assert floor >= 1
    real = ssh_opener(options)
    seen: list[tuple[int, str]] = []

    def recording_opener(h: Host) -> Session:
        session = real(h)
        seen.append((k, _config(session)))
        return session

    drops = 0
    k = 0
    while True:
        k += 1
        assert k < 40, "the drop steps never ran out"
        device.change_lines = 0
        device.drop_on_change = k
        _, (result,) = push_hosts([host], options, opener=recording_opener)
        fired = device.change_lines >= k
        device.drop_on_change = 0
        if name in COMPLETES and not fired:
            # The drops ran out and nothing is refused: the push stands.
            assert result.outcome is PushOutcome.CHANGED, result.reason
            break
        if result.outcome is not PushOutcome.ROLLED_BACK:
            pytest.fail(f"{k}: {result.reason}")
        with open_session(host, known_hosts=options.known_hosts, accept_new_host_keys=True) as s:
            assert _config(s) == before, (k, result)
        if not fired:
            break
        drops += 1
        # A drop in the apply is the cause; one in the restore is retried over a new
        # session, and the refused line stays the cause.
        assert "session dropped" in result.reason or "device rejected" in result.reason
    # Every session opened after a drop saw a device that still had its servers.
    for step, text in seen:
        assert _servers(host.platform, text) >= floor, (step, text)
    # A drop after every line of the apply (Windows has one) and of the restore.
    assert drops >= {"win-drops": 1, "cat-drops": 5}.get(name, 8), drops
