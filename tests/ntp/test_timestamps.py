"""Era-aware integer timestamps (RFC 5905 §6)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.ntp import timestamps as T

ERA0_END_UNIX = 2_085_978_496  # 2036-02-07 06:28:16 UTC: NTP seconds wrap to 0


def test_known_values() -> None:
    # 1970-01-01 is NTP second 2208988800 = 0x83AA7E80 (RFC 868 / RFC 5905 offset)
    assert T.from_unix_ns(0) == 0x83AA7E80 << 32
    assert T.from_unix_s(0.5) == (0x83AA7E80 << 32) | 0x80000000
    assert T.to_unix_s(0x83AA7E80 << 32) == 0.0


def test_era_rollover_2036() -> None:
    last = T.from_unix_s(ERA0_END_UNIX - 1)
    first = T.from_unix_s(ERA0_END_UNIX)
    assert last >> 32 == 0xFFFFFFFF
    assert first >> 32 == 0
    # era 1 decodes after 2036, not in 1900
    assert T.to_unix_s(first) == ERA0_END_UNIX
    assert T.to_unix_ns(first + (1 << 32)) == (ERA0_END_UNIX + 1) * 10**9
    # differences across the boundary are small and signed
    assert T.diff_s(first, last) == 1.0
    assert T.diff_s(last, first) == -1.0
    assert T.diff_ns(T.add_s(last, 0.25), last) == 250_000_000


def test_pivot_picks_the_era() -> None:
    t = T.from_unix_s(ERA0_END_UNIX + 10)
    assert T.to_unix_s(t, pivot_unix_s=ERA0_END_UNIX) == ERA0_END_UNIX + 10
    # with a pivot in 1950 the same wire value is read as 1900-era time
    assert T.to_unix_s(t, pivot_unix_s=-631152000) == ERA0_END_UNIX + 10 - 2**32


UNIX_NS = st.integers(min_value=-(2**31) * 10**9, max_value=(2**31 - 1) * 10**9)


@given(UNIX_NS)
def test_ns_round_trip_is_exact(ns: int) -> None:
    pivot = ns // 10**9
    assert T.to_unix_ns(T.from_unix_ns(ns), pivot_unix_s=pivot) == ns


@given(st.integers(min_value=0, max_value=T.TS_MASK), st.integers(-(2**40), 2**40))
def test_diff_is_antisymmetric_and_wraps(a: int, delta: int) -> None:
    b = (a + delta) & T.TS_MASK
    assert T.diff_s(b, a) == delta / 2**32
    assert T.diff_s(a, b) == -delta / 2**32


@given(st.integers(min_value=0, max_value=T.TS_MASK), st.integers(-32, 0), st.integers(0, 2**32))
def test_fuzz_only_touches_bits_below_precision(t: int, precision: int, bits: int) -> None:
    out = T.fuzz(t, precision, bits)
    keep = T.TS_MASK ^ ((1 << (32 + precision)) - 1)
    assert out & keep == t & keep
    assert 0 <= out <= T.TS_MASK


def test_short_format() -> None:
    assert T.short_from_s(1.0) == 0x00010000
    assert T.short_to_s(0x00018000) == 1.5
    assert T.short_from_s(1e-9) == 1  # rounds up: never understate dispersion
    assert T.short_from_s(1e9) == 0xFFFFFFFF  # saturates
    assert T.short_from_s(-1.0) == 0
