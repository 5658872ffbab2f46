"""What a run shares with whoever stops it: a stop request and the phase of each device.

The CLI turns SIGINT/SIGTERM into `request_stop`; the engine reads `stopping` between
steps and records each device's phase, so that a forced exit can name the devices that
may be half-changed. Nothing here installs handlers, prints or exits (only cli/ does).
"""

from __future__ import annotations

import signal
import threading

# Phases in which a device may differ from both its backup and the desired state.
CHANGING = ("applying", "verifying", "restoring")


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        # Reentrant: a signal handler runs in the main thread, maybe while it holds it.
        self._lock = threading.RLock()
        self._phases: dict[str, str] = {}
        self.signum: int | None = None
        self.requests = 0

    def request_stop(self, signum: int) -> int:
        """Record one stop request (a signal); returns how many there have been."""
        with self._lock:
            self.requests += 1
            if self.signum is None:
                self.signum = signum
        self._stop.set()
        return self.requests

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def reason(self) -> str:
        """'interrupted (SIGTERM)'"""
        name = signal.Signals(self.signum).name if self.signum else "stop requested"
        return f"interrupted ({name})"

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as shells report it (130 SIGINT, 143 SIGTERM)."""
        return 128 + (self.signum or 0)

    def phase(self, host: str, phase: str | None) -> None:
        with self._lock:
            if phase is None:
                self._phases.pop(host, None)
            else:
                self._phases[host] = phase

    def in_flight(self) -> dict[str, str]:
        with self._lock:
            return dict(self._phases)

    def may_be_inconsistent(self) -> list[tuple[str, str]]:
        """(host, phase) of the devices a forced exit could leave half-changed."""
        return sorted((h, p) for h, p in self.in_flight().items() if p in CHANGING)
