"""Run one task per host on a thread pool: per-host timeouts, failures captured per host.

A host's task runs in a worker thread. Its outcome is either the task's value or the
error it raised (one line, with the exception class as `error_kind`). A task that runs
longer than `timeout_s` is reported as timed out and abandoned (threads cannot be
killed; sessions carry their own socket timeouts, so the thread ends on its own soon
after). One host failing never stops the others, and outcomes come back in input order.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from orchestrator.errors import OrchError
from orchestrator.models import Host

T = TypeVar("T")

TIMEOUT_KIND = "Timeout"


@dataclass(frozen=True)
class HostOutcome(Generic[T]):
    host: Host
    value: T | None
    error: str | None  # one line for a person; None when the task succeeded
    error_kind: str | None  # exception class name, or "Timeout"
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.error is None


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, OrchError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"internal error: {type(exc).__name__}" + (f": {first}" if first else "")


class _Running:
    """Start times of the tasks running now (at most `workers` of them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[int, float] = {}

    def start(self, index: int) -> None:
        with self._lock:
            self._since[index] = time.monotonic()

    def stop(self, index: int) -> None:
        with self._lock:
            self._since.pop(index, None)

    def overdue(self, timeout_s: float) -> tuple[list[tuple[int, float]], float]:
        """(tasks past the limit with their start, seconds until the next one will be)."""
        now = time.monotonic()
        late: list[tuple[int, float]] = []
        wait_s = 1.0
        with self._lock:
            for index, t0 in list(self._since.items()):
                if now - t0 >= timeout_s:
                    late.append((index, t0))
                    del self._since[index]
                else:
                    wait_s = min(wait_s, t0 + timeout_s - now)
        return late, max(wait_s, 0.0)


def run_per_host(
    hosts: Sequence[Host],
    task: Callable[[Host], T],
    *,
    workers: int = 50,
    timeout_s: float = 120.0,
    on_done: Callable[[HostOutcome[T]], None] | None = None,
) -> list[HostOutcome[T]]:
    """Run `task(host)` for every host with at most `workers` at a time.

    `on_done` is called in the calling thread as each host finishes (for progress bars).
    Finished tasks report through a queue, so waiting costs the same for 10 hosts or 10 000.
    """
    if not hosts:
        return []
    running = _Running()
    finished: queue.SimpleQueue[tuple[int, HostOutcome[T]]] = queue.SimpleQueue()

    def call(index: int, host: Host) -> None:
        running.start(index)
        t0 = time.monotonic()
        try:
            outcome = HostOutcome(host, task(host), None, None, _since(t0))
        except Exception as exc:  # captured per host by design
            outcome = HostOutcome(host, None, _error_line(exc), type(exc).__name__, _since(t0))
        running.stop(index)
        finished.put((index, outcome))

    outcomes: list[HostOutcome[T] | None] = [None] * len(hosts)
    left = len(hosts)

    def settle(index: int, outcome: HostOutcome[T]) -> None:
        nonlocal left
        if outcomes[index] is None:  # a task that timed out may still finish later
            outcomes[index] = outcome
            left -= 1
            if on_done is not None:
                on_done(outcome)

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="orch-host")
    try:
        for index, host in enumerate(hosts):
            pool.submit(call, index, host)
        while left:
            late, wait_s = running.overdue(timeout_s)
            for index, t0 in late:
                message = f"{hosts[index].name}: timed out (no result within {timeout_s:g} s)"
                settle(index, HostOutcome(hosts[index], None, message, TIMEOUT_KIND, _since(t0)))
            with contextlib.suppress(queue.Empty):
                settle(*finished.get(timeout=wait_s))
            while not finished.empty():
                settle(*finished.get())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [o for o in outcomes if o is not None]


def _since(t0: float) -> float:
    return time.monotonic() - t0
