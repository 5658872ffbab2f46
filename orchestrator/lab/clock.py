"""A simulated device clock: the host's clock plus a fixed error and a frequency drift.

The device never disciplines this clock, so the offset its NTP client measures against a
good server is exactly -(error + drift * elapsed): what `show ntp` reports is what was
measured on the wire.
"""

from __future__ import annotations

import time


class DeviceClock:
    def __init__(self, error_s: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.error_s = error_s
        self.drift_ppm = drift_ppm
        self._start = time.time()
        self._boot_monotonic = time.monotonic()

    def now(self) -> float:
        """Device time as Unix seconds."""
        true = time.time()
        return true + self.error_s + (true - self._start) * self.drift_ppm * 1e-6

    def uptime_s(self) -> float:
        return time.monotonic() - self._boot_monotonic
