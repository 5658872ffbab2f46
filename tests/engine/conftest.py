"""Fixtures for the push tests: one simulated lab for the package, a fresh known_hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.lab_fleet import free_port, lab_devices
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.spec import LabSpec


@pytest.fixture(scope="package")
def lab() -> Iterator[tuple[Lab, dict[str, DeviceEndpoint]]]:
    port = free_port()
    running = Lab(LabSpec(lab_devices(port), ntp_port=free_port(), poll_interval_s=None))
    endpoints = running.start()
    try:
        yield running, {e.name: e for e in endpoints}
    finally:
        running.stop()


@pytest.fixture()
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "known_hosts"
