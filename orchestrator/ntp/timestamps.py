"""Era-aware integer NTP timestamps (RFC 5905 §6).

An NTP timestamp on the wire is a 64-bit unsigned 32.32 fixed-point count of
seconds since 1900-01-01 00:00 UTC. It wraps every 2**32 s (~136 years): era 0
ends on 2036-02-07 06:28:16 UTC. Inside this package timestamps are plain `int`
values in 0 .. 2**64-1, exactly the 64 bits of the wire, so they round-trip
bit-exact (the server copies the client's transmit timestamp into the origin
field untouched).

Converting *to* Unix time needs the era, which the wire does not carry. As in
chrony and ntpd, the era is chosen so that the result lies within ±2**31 s (68
years) of a pivot: by default `DEFAULT_PIVOT_UNIX_S` (2026), or a time the
caller knows is close (for example its own clock).

NTP "short" format (root delay, root dispersion) is 16.16 unsigned seconds.

API:
    from_unix_ns(ns) -> ts         exact: to_unix_ns(from_unix_ns(ns)) == ns
    from_unix_s(seconds) -> ts
    to_unix_ns(ts, pivot_unix_s=...) -> int nanoseconds
    to_unix_s(ts, pivot_unix_s=...) -> float seconds
    diff_ns(a, b) / diff_s(a, b)   signed a - b across an era boundary
    short_to_s(raw) / short_from_s(seconds)
    fuzz(ts, precision, random_bits)   randomise the bits below the precision
    ZERO = 0                        "unknown" timestamp
"""

from __future__ import annotations

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
ERA_S = 1 << 32
ERA_NS = ERA_S * 1_000_000_000
TS_MASK = (1 << 64) - 1
FRAC_ONE = 1 << 32
NS_PER_S = 1_000_000_000
ZERO = 0
# 2026-01-01 00:00:00 UTC: timestamps decode to within 68 years of it
# (1958 .. 2094) unless the caller passes a better pivot.
DEFAULT_PIVOT_UNIX_S = 1_767_225_600
SHORT_MAX = (1 << 32) - 1


def from_unix_ns(unix_ns: int) -> int:
    """Unix time in integer nanoseconds -> 64-bit NTP timestamp (era dropped).

    The fraction is rounded up so that `to_unix_ns` (which rounds down) gives
    back exactly the same nanosecond.
    """
    ntp_ns = unix_ns + NTP_UNIX_OFFSET_S * NS_PER_S
    seconds, rem_ns = divmod(ntp_ns, NS_PER_S)
    frac = -((-rem_ns * FRAC_ONE) // NS_PER_S)  # ceil, always < 2**32
    return ((seconds << 32) | frac) & TS_MASK


def from_unix_s(unix_s: float) -> int:
    """Unix time in (float) seconds -> 64-bit NTP timestamp, to the nearest 2**-32 s."""
    ntp_s = unix_s + NTP_UNIX_OFFSET_S
    whole = int(ntp_s // 1)
    frac = round((ntp_s - whole) * FRAC_ONE)
    return ((whole << 32) + frac) & TS_MASK


def era_ns(ts: int, pivot_unix_s: int = DEFAULT_PIVOT_UNIX_S) -> int:
    """Nanoseconds since 1900 of `ts` in the era that puts it nearest the pivot."""
    seconds = ts >> 32
    frac_ns = ((ts & 0xFFFFFFFF) * NS_PER_S) >> 32
    pivot_ntp_s = pivot_unix_s + NTP_UNIX_OFFSET_S
    # Pick era so that |seconds + era*2**32 - pivot| <= 2**31.
    era = (pivot_ntp_s - seconds + (1 << 31)) // ERA_S
    return (seconds + era * ERA_S) * NS_PER_S + frac_ns


def to_unix_ns(ts: int, pivot_unix_s: int = DEFAULT_PIVOT_UNIX_S) -> int:
    """64-bit NTP timestamp -> Unix integer nanoseconds (rounded down), era from the pivot."""
    return era_ns(ts, pivot_unix_s) - NTP_UNIX_OFFSET_S * NS_PER_S


def to_unix_s(ts: int, pivot_unix_s: int = DEFAULT_PIVOT_UNIX_S) -> float:
    """64-bit NTP timestamp -> Unix float seconds, era from the pivot."""
    seconds = ts >> 32
    pivot_ntp_s = pivot_unix_s + NTP_UNIX_OFFSET_S
    era = (pivot_ntp_s - seconds + (1 << 31)) // ERA_S
    return (seconds + era * ERA_S - NTP_UNIX_OFFSET_S) + (ts & 0xFFFFFFFF) / FRAC_ONE


def diff_ns(a: int, b: int) -> int:
    """Signed a - b in nanoseconds, assuming |a - b| < 68 years (works across eras)."""
    d = (a - b) & TS_MASK
    if d >= 1 << 63:
        d -= 1 << 64
    # floor division keeps the sign convention: diff_ns(a, b) == -diff_ns(b, a) +/- 1 ns
    return (d * NS_PER_S) >> 32


def diff_s(a: int, b: int) -> float:
    """Signed a - b in float seconds, assuming |a - b| < 68 years (works across eras)."""
    d = (a - b) & TS_MASK
    if d >= 1 << 63:
        d -= 1 << 64
    return d / FRAC_ONE


def add_s(ts: int, seconds: float) -> int:
    """`ts` moved by `seconds` (may be negative), modulo the era."""
    return (ts + round(seconds * FRAC_ONE)) & TS_MASK


def short_to_s(raw: int) -> float:
    """NTP short format (16.16 unsigned) -> seconds."""
    return raw / 65536.0


def short_from_s(seconds: float) -> int:
    """Seconds -> NTP short format, rounded up (dispersion must never understate), saturated."""
    if seconds <= 0:
        return 0
    raw = -(-seconds * 65536.0 // 1)
    return SHORT_MAX if raw >= SHORT_MAX else int(raw)


def fuzz(ts: int, precision: int, random_bits: int) -> int:
    """Replace the bits of `ts` below 2**precision seconds with `random_bits` (RFC 5905 §6).

    `precision` is the log2-seconds value from the packet header (e.g. -20 ~ 1 µs).
    Only the low `32 + precision` bits are replaced; precision >= 0 leaves `ts` alone
    except when it reaches into the seconds, which it never should.
    """
    nbits = 32 + precision
    if nbits <= 0:
        return ts
    if nbits > 32:
        nbits = 32
    mask = (1 << nbits) - 1
    return (ts & ~mask & TS_MASK) | (random_bits & mask)
