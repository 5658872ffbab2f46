"""A session that stops between commands: when a run is interrupted or a device's time
is up, the command in progress finishes and the next one is not sent.

Configuration blocks are sent in chunks sized to take about `chunk_s` each (the first
from how long the device took to answer a command before, then from how fast it took
the last chunk), so a stop waits for at most one chunk, while a fast device still gets
its change in one paste.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from orchestrator.drivers.base import CommandResult, Session
from orchestrator.errors import DeviceError
from orchestrator.models import Host

StopCheck = Callable[[], str | None]  # the reason to stop now, or None


class Stopped(DeviceError):
    """A guarded session refused to send the next command (interrupt or time limit)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class GuardedSession:
    """Wraps a Session; `check()` is asked before every command or chunk."""

    def __init__(
        self, inner: Session, check: StopCheck, *, chunk_s: float = 2.0, line_s: float = 1.0
    ) -> None:
        """`line_s`: how long one line is expected to take until one was measured."""
        self.inner = inner
        self.host: Host = inner.host
        self.check = check
        self.chunk_s = chunk_s
        self.line_s = line_s

    def _gate(self) -> None:
        reason = self.check()
        if reason is not None:
            raise Stopped(f"{self.host.name}: {reason}", timed_out="timed out" in reason)

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        self._gate()
        return self.inner.run(command, stdin=stdin, timeout_s=timeout_s)

    def configure(self, lines: Sequence[str]) -> str:
        outputs: list[str] = []
        size = max(1, int(self.chunk_s / max(self.line_s, 1e-3)))
        done = 0
        while done < len(lines):
            self._gate()
            chunk = lines[done : done + size]
            t0 = time.monotonic()
            outputs.append(self.inner.configure(chunk))
            done += len(chunk)
            self.line_s = max(time.monotonic() - t0, 1e-3) / len(chunk)
            size = max(1, int(self.chunk_s / self.line_s))
        return "".join(outputs)

    def save(self) -> str:
        self._gate()
        return self.inner.save()

    def close(self) -> None:
        self.inner.close()
