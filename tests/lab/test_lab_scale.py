"""A bounded version of benchmarks/lab_scale.py: many devices, many concurrent logins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncssh

from orchestrator.lab.runtime import DeviceEndpoint, Lab

DEVICES = 60
CONCURRENT = 30


async def _login_all(endpoints: list[DeviceEndpoint]) -> list[str | BaseException]:
    async def one(ep: DeviceEndpoint) -> str:
        async with asyncssh.connect(
            ep.address,
            ep.port,
            username=ep.username,
            password=ep.password,
            known_hosts=None,
            client_keys=None,
            agent_path=None,
            connect_timeout=60,
        ) as conn:
            result = await conn.run("show version", check=True, timeout=60)
            return str(result.stdout)

    return await asyncio.gather(*(one(ep) for ep in endpoints), return_exceptions=True)


def test_sixty_devices_take_thirty_concurrent_logins(
    make_lab: Callable[..., tuple[Lab, list[DeviceEndpoint]]],
) -> None:
    _lab, endpoints = make_lab(
        *({"name": f"lab-s{i:03d}", "platform": "cisco_ios"} for i in range(DEVICES))
    )
    assert len({(e.address, e.port) for e in endpoints}) == DEVICES
    chosen = endpoints[:: DEVICES // CONCURRENT][:CONCURRENT]
    results = asyncio.run(_login_all(chosen))
    failures = [r for r in results if not isinstance(r, str)]
    assert not failures, failures[:3]
    for ep, out in zip(chosen, results, strict=True):
        assert f"{ep.name} uptime is" in str(out)
