"""Fixtures for the server's I/O tests: an in-process server on an ephemeral loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.serve import NtpServerRunner, ServerConfig

StartServer = Callable[..., NtpServerRunner]


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
