"""Run the core's rate-limiting and client-log tests on both implementations of their state:
the pure-Python RateLimiter/ClientLog, and the C tables the server's C packet loop shares
with the core (orchestrator/serve/fastpath.py). Modules opt in with
`pytestmark = pytest.mark.usefixtures("state_tables")`."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from orchestrator.ntp import server
from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.serve import fastpath


def c_factories(mod: ModuleType) -> tuple[Any, Any]:
    """RateLimiter(config) and ClientLog(max_clients) look-alikes over new C tables."""

    def limiter(config: RateLimitConfig) -> fastpath.CRateLimiter:
        table = mod.RateTable(
            config.max_clients, config.interval, config.burst, config.leak, config.kod
        )
        return fastpath.CRateLimiter(config, table)

    def client_log(max_clients: int = 4096) -> fastpath.CClientLog:
        return fastpath.CClientLog(mod.ClientTable(max_clients))

    return limiter, client_log


@pytest.fixture(params=["python", "c"])
def state_tables(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "c":
        mod = fastpath.module()
        if mod is None:
            pytest.skip(f"the C packet loop is not built here ({fastpath.describe()})")
        limiter, client_log = c_factories(mod)
        for target in (server, request.module):
            if hasattr(target, "RateLimiter"):
                monkeypatch.setattr(target, "RateLimiter", limiter)
            if hasattr(target, "ClientLog"):
                monkeypatch.setattr(target, "ClientLog", client_log)
    yield request.param
