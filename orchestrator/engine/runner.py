"""Run one task per host on a thread pool: per-host timeouts, failures captured per host.

A host's task runs in a worker thread. Its outcome is either the task's value or the
error it raised (one line, with the exception class as `error_kind`). A task that runs
longer than `timeout_s` is reported as timed out and abandoned (threads cannot be
killed; sessions carry their own socket timeouts, so the thread ends on its own soon
after). One host failing never stops the others, and outcomes come back in input order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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


class _Started:
    """Start times of running tasks, written by workers, read by the waiting thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: dict[int, float] = {}

    def mark(self, index: int) -> None:
        with self._lock:
            self._at[index] = time.monotonic()

    def get(self, index: int) -> float | None:
        with self._lock:
            return self._at.get(index)


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
    """
    if not hosts:
        return []
    started = _Started()

    def call(index: int, host: Host) -> HostOutcome[T]:
        started.mark(index)
        t0 = time.monotonic()
        try:
            value = task(host)
        except Exception as exc:  # captured per host by design
            return HostOutcome(host, None, _error_line(exc), type(exc).__name__, _since(t0))
        return HostOutcome(host, value, None, None, _since(t0))

    outcomes: list[HostOutcome[T] | None] = [None] * len(hosts)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="orch-host")
    try:
        futures: dict[Future[HostOutcome[T]], int] = {
            pool.submit(call, i, h): i for i, h in enumerate(hosts)
        }
        pending = set(futures)
        while pending:
            done, pending = wait(
                pending,
                timeout=_next_deadline(pending, futures, started, timeout_s),
                return_when=FIRST_COMPLETED,
            )
            for fut in done:
                outcome = fut.result()
                outcomes[futures[fut]] = outcome
                if on_done is not None:
                    on_done(outcome)
            now = time.monotonic()
            for fut in list(pending):
                index = futures[fut]
                t0 = started.get(index)
                if t0 is not None and now - t0 >= timeout_s:
                    pending.discard(fut)
                    outcome = HostOutcome(
                        hosts[index],
                        None,
                        f"{hosts[index].name}: timed out (no result within {timeout_s:g} s)",
                        TIMEOUT_KIND,
                        now - t0,
                    )
                    outcomes[index] = outcome
                    if on_done is not None:
                        on_done(outcome)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [o for o in outcomes if o is not None]


def _since(t0: float) -> float:
    return time.monotonic() - t0


def _next_deadline(
    pending: set[Future[HostOutcome[T]]],
    futures: dict[Future[HostOutcome[T]], int],
    started: _Started,
    timeout_s: float,
) -> float:
    """Seconds until the earliest running task times out (re-checked at least every second)."""
    now = time.monotonic()
    soonest = 1.0
    for fut in pending:
        t0 = started.get(futures[fut])
        if t0 is not None:
            soonest = min(soonest, max(0.0, t0 + timeout_s - now))
    return soonest
