"""The Windows driver pushing two peers to the simulated Windows host over real SSH.

Windows takes the peer list as one quoted argument
(`/manualpeerlist:"127.0.0.10,0x8 127.0.0.11,0x8"`); the lab reads it with the C
runtime's argument rules, so both peers reach the registry and the running service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, push_hosts
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.spec import DeviceSpec, LabSpec
from orchestrator.models import DesiredNtp, Host, NtpServerSpec, PushOutcome, Secret

# Loopback addresses of their own (tests/lab takes 127.0.140-159.x, the push fleet 127.0.1.x).
ADDRESS = "127.0.161.1"
TWO_PEERS = DesiredNtp(
    (NtpServerSpec("127.0.0.10"), NtpServerSpec("127.0.0.11")), update_calendar=False
)


@pytest.fixture(scope="module")
def windows() -> Iterator[DeviceEndpoint]:
    lab = Lab(
        LabSpec((DeviceSpec("win-2peers", "windows", ADDRESS, port=0),), poll_interval_s=None)
    )
    (endpoint,) = lab.start()
    try:
        yield endpoint
    finally:
        lab.stop()


def _host(ep: DeviceEndpoint) -> Host:
    return Host(
        name=ep.name,
        hostname=ep.address,
        platform="windows",
        port=ep.port,
        username=ep.username,
        password=Secret(ep.password),
        site="lab",
        groups=("windows",),
        desired=TWO_PEERS,
    )


def _query(host: Host, known_hosts: Path, command: str) -> str:
    with open_session(host, known_hosts=known_hosts, accept_new_host_keys=True) as session:
        return session.run(command).output.replace("\r\n", "\n")


def test_two_peers_are_pushed_then_the_second_push_is_unchanged(
    windows: DeviceEndpoint, tmp_path: Path
) -> None:
    host, known_hosts = _host(windows), tmp_path / "known_hosts"
    options = PushOptions(
        known_hosts=known_hosts,
        accept_new_host_keys=True,
        backups_dir=tmp_path / "backups",
        timeout_s=20.0,
        connect_timeout_s=5.0,
    )

    _, (first,) = push_hosts([host], options)
    assert first.outcome is PushOutcome.CHANGED, first
    assert "+NtpServer: 127.0.0.10,0x8 127.0.0.11,0x8" in first.diff

    config = _query(host, known_hosts, "w32tm /query /configuration")
    assert "NtpServer: 127.0.0.10,0x8 127.0.0.11,0x8 (Local)" in config
    assert "Type: NTP (Local)" in config
    peers = _query(host, known_hosts, "w32tm /query /peers")
    assert peers.startswith("#Peers: 2\n")
    assert "Peer: 127.0.0.10,0x8\n" in peers and "Peer: 127.0.0.11,0x8\n" in peers

    _, (second,) = push_hosts([host], options)
    assert second.outcome is PushOutcome.UNCHANGED, second
