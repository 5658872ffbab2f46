"""Each driver's collect() + parse() on the simulated devices (what `orch verify` uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.lab_fleet import host_of
from orchestrator.drivers import get_driver
from orchestrator.drivers.session import open_session
from orchestrator.lab.runtime import DeviceEndpoint, Lab

LabFixture = tuple[Lab, dict[str, DeviceEndpoint]]


@pytest.mark.parametrize("name", ["ios-acl", "cat-ok", "win-gpo"])
def test_collect_and_parse(lab: LabFixture, name: str, known_hosts: Path) -> None:
    host = host_of(lab[1][name])
    driver = get_driver(host.platform)
    with open_session(host, known_hosts=known_hosts, accept_new_host_keys=True) as session:
        raw = driver.collect(session)
    state = driver.parse(host.name, raw)
    assert state.host == name and state.platform == host.platform
    assert dict(state.raw) == dict(raw)
    assert state.status is not None
    if name == "ios-acl":
        assert "ntp access-group peer 99" in state.configured.access_groups
    if name == "win-gpo":
        assert state.configured.domain_policy
        assert any("group policy" in w for w in state.warnings)
