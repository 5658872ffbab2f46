"""Fixtures for the server's I/O tests: an in-process server on an ephemeral loopback port.

Every test here runs twice: with the C packet loop (orchestrator/serve/_fastpath.c, which
answers plain mode-3 requests and hands the rest to the Python core) and with the
pure-Python loop (ORCH_FASTPATH=0). Servers started as subprocesses inherit the switch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.serve import NtpServerRunner, ServerConfig, fastpath

StartServer = Callable[..., NtpServerRunner]


@pytest.fixture(params=["c", "python"], autouse=True)
def packet_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which packet loop the servers of this test use ("c" or "python")."""
    if request.param == "c" and fastpath.module() is None:
        pytest.skip(f"the C packet loop is not built here ({fastpath.describe()})")
    monkeypatch.setenv(fastpath.ENV_SWITCH, "1" if request.param == "c" else "0")
    return str(request.param)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """start_server(reference="local", ...) -> a running server on 127.0.0.1:<ephemeral>."""
    runners: list[NtpServerRunner] = []

    def start(**overrides: Any) -> NtpServerRunner:
        values: dict[str, Any] = {
            "listen": ("127.0.0.1",),
            "port": 0,
            "reference": "local",
            "ratelimit": None,
            "client_log": tmp_path / f"clients-{len(runners)}.sqlite",
            "flush_interval_s": 0.2,
            "workers": 1,
        }
        values.update(overrides)
        runner = NtpServerRunner(ServerConfig(**values))
        runner.start()
        runners.append(runner)
        return runner

    yield start
    for r in runners:
        r.stop()
