"""The threaded per-host runner: order, isolation of failures, per-host timeouts."""

from __future__ import annotations

import threading
import time

from orchestrator.engine.runner import TIMEOUT_KIND, HostOutcome, run_per_host
from orchestrator.errors import ConnectionFailure
from orchestrator.models import DesiredNtp, Host


def _host(name: str) -> Host:
    return Host(name, "127.0.0.1", "cisco_ios", 22, "u", None, "s", (), DesiredNtp(()))


def test_order_preserved_and_failures_isolated() -> None:
    hosts = [_host(f"r{i}") for i in range(20)]

    def task(h: Host) -> int:
        n = int(h.name[1:])
        if n % 5 == 0:
            raise ConnectionFailure(f"{h.name}: authentication failed")
        time.sleep(0.001 * (20 - n))  # finish out of order
        return n * 2

    seen: list[str] = []
    out = run_per_host(hosts, task, workers=8, on_done=lambda o: seen.append(o.host.name))
    assert [o.host.name for o in out] == [h.name for h in hosts]
    assert sorted(seen) == sorted(h.name for h in hosts)
    for i, o in enumerate(out):
        if i % 5 == 0:
            assert o.value is None and o.error == f"r{i}: authentication failed"
            assert o.error_kind == "ConnectionFailure" and not o.ok
        else:
            assert o.value == i * 2 and o.error is None and o.ok


def test_unexpected_exception_is_captured_as_internal_error() -> None:
    def task(h: Host) -> None:
        raise KeyError("boom")

    (o,) = run_per_host([_host("a")], task)
    assert o.error_kind == "KeyError"
    assert o.error is not None and o.error.startswith("internal error: KeyError")


def test_per_host_timeout_does_not_block_others() -> None:
    release = threading.Event()

    def task(h: Host) -> str:
        if h.name == "slow":
            release.wait(5)
        return h.name

    try:
        out = run_per_host([_host("slow"), _host("fast")], task, workers=2, timeout_s=0.3)
    finally:
        release.set()
    slow, fast = out
    assert slow.error_kind == TIMEOUT_KIND and slow.value is None
    assert slow.error is not None and "timed out (no result within 0.3 s)" in slow.error
    assert fast.value == "fast" and fast.ok


def test_workers_bound_concurrency() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0

    def task(h: Host) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    out: list[HostOutcome[None]] = run_per_host([_host(str(i)) for i in range(12)], task, workers=3)
    assert len(out) == 12 and all(o.ok for o in out)
    assert peak <= 3


def test_empty() -> None:
    assert run_per_host([], lambda h: 1) == []
