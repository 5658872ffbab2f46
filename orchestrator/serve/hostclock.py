"""What the host says about its own clock: the kernel (adjtimex) and chronyd (tracking).

`kernel_status()` calls adjtimex(2) with modes=0 through ctypes (read only, it
never changes the clock). `chrony_tracking()` runs `chronyc -c -n tracking` and
parses its CSV line (columns as printed by chrony 4: refid hex, name, stratum,
ref time, system time, last offset, RMS offset, frequency, residual frequency,
skew, root delay, root dispersion, update interval, leap status).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# adjtimex return values (clock states) and status bits, <linux/timex.h>
TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT, TIME_ERROR = range(6)
STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class KernelClock:
    """adjtimex(2) read-only status."""

    state: int  # TIME_OK ... TIME_ERROR
    status: int  # STA_* bits
    maxerror_s: float
    esterror_s: float
    # what a time daemon sets (raw adjtimex units): the lab's clock-safety test compares them
    offset: int = 0
    freq: int = 0
    constant: int = 0
    tick: int = 0

    @property
    def synchronised(self) -> bool:
        return not self.status & STA_UNSYNC and self.state != TIME_ERROR

    @property
    def leap(self) -> int:
        """RFC 5905 LI: 3 unsynchronised, 1 insert, 2 delete, else 0."""
        if not self.synchronised:
            return 3
        return {TIME_INS: 1, TIME_DEL: 2}.get(self.state, 0)


def kernel_status() -> KernelClock | None:
    """The kernel's clock status, or None where adjtimex is unavailable (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    tx = _Timex()  # modes = 0: read only
    state = int(libc.adjtimex(ctypes.byref(tx)))
    if state < 0:
        return None
    return KernelClock(
        state,
        int(tx.status),
        tx.maxerror / 1e6,
        tx.esterror / 1e6,
        offset=int(tx.offset),
        freq=int(tx.freq),
        constant=int(tx.constant),
        tick=int(tx.tick),
    )


@dataclass(frozen=True)
class ChronyTracking:
    ref_id: bytes
    name: str
    stratum: int
    ref_time_ns: int
    root_delay_s: float
    root_dispersion_s: float
    leap_status: str  # "Normal", "Insert second", "Delete second", "Not synchronised"
    # How far the system clock is from chronyd's estimate of true time ("System time").
    # A chronyd that controls the clock slews this away; one run with -x only measures it.
    system_offset_s: float = 0.0

    @property
    def synchronised(self) -> bool:
        return self.leap_status != "Not synchronised" and 0 < self.stratum < 16

    @property
    def leap(self) -> int:
        if not self.synchronised:
            return 3
        return {"Insert second": 1, "Delete second": 2}.get(self.leap_status, 0)


def parse_tracking_csv(line: str) -> ChronyTracking | None:
    """One `chronyc -c tracking` line -> ChronyTracking (None if it is not one)."""
    cols = line.strip().split(",")
    if len(cols) < 14:
        return None
    try:
        seconds, _, frac = cols[3].partition(".")
        ref_ns = int(seconds) * 1_000_000_000 + int((frac + "000000000")[:9])
        return ChronyTracking(
            ref_id=bytes.fromhex(cols[0].rjust(8, "0")),
            name=cols[1],
            stratum=int(cols[2]),
            ref_time_ns=ref_ns,
            root_delay_s=float(cols[10]),
            root_dispersion_s=float(cols[11]),
            leap_status=cols[13],
            system_offset_s=float(cols[4]),
        )
    except ValueError:
        return None


def chrony_tracking(
    socket_path: Path | None = None, timeout_s: float = 2.0
) -> ChronyTracking | None:
    """chronyd's tracking data, or None when chronyc is missing or no chronyd answers."""
    cmd = ["chronyc", "-c", "-n"]
    if socket_path is not None:
        cmd += ["-h", str(socket_path)]
    cmd.append("tracking")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return parse_tracking_csv(out.stdout)


def measure_precision(samples: int = 200) -> int:
    """log2 seconds of the clock's precision: the smallest step seen between two reads.

    As chrony does at start: max(resolution, time to read the clock), rounded up.
    """
    best = 1 << 62
    prev = time.time_ns()
    for _ in range(samples):
        now = time.time_ns()
        if now > prev:
            best = min(best, now - prev)
        prev = now
    if best == 1 << 62:
        best = 1000
    exp = -30
    while 2.0**exp < best / 1e9:
        exp += 1
    return exp
