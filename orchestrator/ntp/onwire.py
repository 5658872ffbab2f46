"""On-wire offset and delay of one client/server exchange (RFC 5905 §8).

T1 client transmit, T2 server receive, T3 server transmit, T4 client receive,
all 64-bit NTP timestamps (see `timestamps`). Differences are taken modulo 2**64,
so an exchange that straddles the 2036 era rollover still gives the right answer.

    offset = ((T2 - T1) + (T3 - T4)) / 2      delay = (T4 - T1) - (T3 - T2)
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.ntp.timestamps import diff_s


@dataclass(frozen=True, slots=True)
class Sample:
    offset_s: float  # server clock minus client clock
    delay_s: float  # round trip minus server processing time (>= 0 in sane exchanges)


def measure(t1: int, t2: int, t3: int, t4: int) -> Sample:
    return Sample(
        offset_s=(diff_s(t2, t1) + diff_s(t3, t4)) / 2.0,
        delay_s=diff_s(t4, t1) - diff_s(t3, t2),
    )
