"""Fixtures for the lab tests: a real NTP server and labs on ephemeral ports."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.lab import DeviceSpec, Lab, LabSpec
from orchestrator.lab.runtime import DeviceEndpoint
from orchestrator.serve.config import ServerConfig
from orchestrator.serve.runner import NtpServerRunner

# Each test takes fresh loopback addresses so that labs never collide with each other
# nor with a developer's running `orch lab up` (which uses 127.0.1.1 onwards).
_ADDRESSES = (f"127.0.{third}.{host}" for third in range(140, 160) for host in range(1, 255))


def next_address() -> str:
    return next(_ADDRESSES)


@pytest.fixture
def ntp_server(tmp_path: Path) -> Iterator[int]:
    """orch's own NTP server on 127.0.0.1, ephemeral port, local clock at stratum 8."""
    config = ServerConfig(
        listen=("127.0.0.1",),
        port=0,
        reference="local",
        stratum=8,
        ratelimit=None,  # lab devices poll every half second
        client_log=tmp_path / "clients.sqlite",
        workers=1,
        flush_interval_s=0.2,
    )
    with NtpServerRunner(config) as runner:
        ((_, port),) = runner.addresses
        yield port


@pytest.fixture
def make_lab() -> Iterator[Callable[..., tuple[Lab, list[DeviceEndpoint]]]]:
    """make_lab(DeviceSpec fields..., lab=dict(LabSpec fields)) -> (lab, endpoints)."""
    labs: list[Lab] = []

    def make(*devices: dict[str, Any], **lab_fields: Any) -> tuple[Lab, list[DeviceEndpoint]]:
        specs = tuple(DeviceSpec(**{"address": next_address(), "port": 0, **d}) for d in devices)
        lab = Lab(LabSpec(devices=specs, **{"poll_interval_s": 0.5, **lab_fields}))
        endpoints = lab.start()
        labs.append(lab)
        return lab, endpoints

    yield make
    for lab in labs:
        lab.stop()


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.5) -> Any:
    """Poll `predicate` until it returns something truthy; return that or the last value."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = predicate()
    return value
