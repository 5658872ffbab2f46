"""handle(): every server rule, with a fake clock and fixed random bits."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.ntp import packet as P
from orchestrator.ntp import timestamps as T
from orchestrator.ntp.access import AccessList
from orchestrator.ntp.auth import KeyStore, SymmetricKey
from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.ntp.server import (
    UNSYNCHRONISED,
    Ignore,
    IgnoreReason,
    NtpServerCore,
    Respond,
    ServerPolicy,
    SystemState,
)

# the rate limiter and client log in pure Python, and as the C tables (conftest.py)
pytestmark = pytest.mark.usefixtures("state_tables")

NOW_NS = 1_790_000_000_123_456_789  # 2026-09 in Unix ns
SYNCED = SystemState(
    leap=0,
    stratum=3,
    ref_id=bytes([192, 0, 2, 1]),
    ref_time_ns=NOW_NS - 100 * 10**9,  # last update 100 s ago
    root_delay_s=0.010,
    root_dispersion_s=0.002,
    precision=-20,
)
CLIENT_XMT = 0xEC5A1B3080ABCDEF  # arbitrary bits, must come back verbatim


class FakeClock:
    def __init__(self, ns: int) -> None:
        self.ns = ns
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.ns


def core(state: SystemState = SYNCED, **policy: object) -> NtpServerCore:
    policy.setdefault("ratelimit", None)
    return NtpServerCore(ServerPolicy(**policy), state)  # type: ignore[arg-type]


def request(mode: int = 3, version: int = 4, poll: int = 6) -> bytes:
    return P.client_request(CLIENT_XMT, version=version, poll=poll, mode=mode).encode()


def answer(c: NtpServerCore, data: bytes, client: str = "127.0.0.1", **kw: int) -> P.NtpPacket:
    clock = FakeClock(kw.get("tx_ns", NOW_NS + 20_000))
    out = c.handle(client, kw.get("rx_ns", NOW_NS), data, clock, kw.get("bits", 0))
    assert isinstance(out, Respond), out
    reply = P.decode(out.data)
    assert clock.reads == (0 if reply.is_kod else 1)  # a KoD carries no timestamps of ours
    return reply


def ignored(c: NtpServerCore, data: bytes, client: str = "127.0.0.1") -> IgnoreReason:
    out = c.handle(client, NOW_NS, data, FakeClock(NOW_NS), 0)
    assert isinstance(out, Ignore), out
    return out.reason


def test_mode3_reply_fields() -> None:
    r = answer(core(), request(poll=7))
    assert (r.leap, r.version, r.mode, r.stratum, r.poll, r.precision) == (0, 4, 4, 3, 7, -20)
    assert r.ref_id == bytes([192, 0, 2, 1])
    assert r.origin_ts == CLIENT_XMT  # bit-exact copy
    assert T.to_unix_ns(r.receive_ts) // 1000 == NOW_NS // 1000  # kernel RX time
    assert T.to_unix_ns(r.transmit_ts) // 1000 == (NOW_NS + 20_000) // 1000  # clock read last
    assert T.to_unix_ns(r.ref_ts) // 1000 == SYNCED.ref_time_ns // 1000
    assert r.root_delay == T.short_from_s(0.010)
    # dispersion grew by 15 ppm for 100 s since the last update
    assert r.root_dispersion_s == pytest.approx(0.002 + 15e-6 * 100, abs=2 / 65536)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_version_echoed(version: int) -> None:
    assert answer(core(), request(version=version)).version == version


def test_mode1_gets_mode2_for_old_windows() -> None:
    assert answer(core(), request(mode=1, version=3)).mode == 2
    assert ignored(core(answer_symmetric=False), request(mode=1)) is IgnoreReason.MODE


@pytest.mark.parametrize("mode", [0, 2, 4, 5, 6, 7])
def test_other_modes_get_no_reply(mode: int) -> None:
    assert ignored(core(), request(mode=mode)) is IgnoreReason.MODE


@pytest.mark.parametrize("version", [0, 5, 6, 7])
def test_bad_versions_get_no_reply(version: int) -> None:
    assert ignored(core(), request(version=version)) is IgnoreReason.VERSION


def test_short_and_malformed_get_no_reply() -> None:
    assert ignored(core(), request()[:47]) is IgnoreReason.SHORT
    assert ignored(core(), b"") is IgnoreReason.SHORT
    assert ignored(core(), request() + b"\x00\x00") is IgnoreReason.MALFORMED
    assert ignored(core(), request() + bytes(8)) is IgnoreReason.MALFORMED


def test_reply_never_longer_than_request() -> None:
    ef = P.ExtensionField(0x0104, bytes(28))
    req = P.NtpPacket(mode=3, transmit_ts=CLIENT_XMT, extensions=(ef,)).encode()
    c = core()
    out = c.handle("127.0.0.1", NOW_NS, req, FakeClock(NOW_NS), 0)
    assert isinstance(out, Respond) and len(out.data) == 48 < len(req)  # EFs not echoed


def test_unsynchronised_says_so() -> None:
    r = answer(core(UNSYNCHRONISED), request())
    assert r.leap == 3
    assert r.stratum == 0  # stratum 16 goes out as 0
    assert r.ref_ts == 0
    assert r.root_dispersion_s >= 1.0


def test_leap_second_warning_passed_on() -> None:
    state = SystemState(leap=1, stratum=2, ref_time_ns=NOW_NS, root_delay_s=0, precision=-20)
    assert answer(core(state), request()).leap == 1


def test_bits_below_precision_are_random() -> None:
    c = core()
    a = answer(c, request(), bits=0)
    b = answer(c, request(), bits=(1 << 96) - 1)
    low = (1 << 12) - 1  # precision -20: 12 random bits of 32
    assert a.receive_ts & ~low == b.receive_ts & ~low
    assert a.receive_ts != b.receive_ts
    assert a.transmit_ts != b.transmit_ts


def test_receive_never_equals_origin_and_transmit_never_before_receive() -> None:
    c = core(SystemState(leap=0, stratum=2, ref_time_ns=NOW_NS, precision=-32))
    xmt_ts = T.from_unix_ns(NOW_NS)
    req = P.client_request(xmt_ts).encode()
    clock = FakeClock(NOW_NS - 5_000)  # clock stepped back between RX and TX
    out = c.handle("127.0.0.1", NOW_NS, req, clock, 0)
    assert isinstance(out, Respond)
    r = P.decode(out.data)
    assert r.receive_ts != r.origin_ts
    assert T.diff_ns(r.transmit_ts, r.receive_ts) >= 0 and r.transmit_ts != r.receive_ts


def test_access_list() -> None:
    c = core(access=AccessList.from_rules(["10.0.0.0/8", "127.0.0.1"], ["10.1.0.0/16"]))
    assert answer(c, request(), client="10.2.3.4")
    assert answer(c, request(), client="::ffff:10.2.3.4")  # v4-mapped judged as v4
    assert ignored(c, request(), client="10.1.2.3") is IgnoreReason.DENIED
    assert ignored(c, request(), client="192.0.2.1") is IgnoreReason.DENIED
    assert ignored(c, request(), client="::1") is IgnoreReason.DENIED


def test_kod_deny_optional_and_limited() -> None:
    c = core(
        access=AccessList.from_rules(["127.0.0.0/8"]),
        deny_kod=True,
        ratelimit=RateLimitConfig(interval=3),
    )
    r = answer(c, request(), client="192.0.2.1")
    assert r.is_kod and r.kiss_code == "DENY" and r.leap == 3
    assert r.origin_ts == CLIENT_XMT
    # a second one within 2**interval seconds gets nothing
    assert ignored(c, request(), client="192.0.2.1") is IgnoreReason.DENIED


def test_rate_limit_kod_then_drops() -> None:
    c = core(ratelimit=RateLimitConfig(interval=0, burst=2, leak=0))
    clock = FakeClock(NOW_NS)
    outs = [c.handle("127.0.0.9", NOW_NS + i, request(), clock, 0) for i in range(5)]
    replies = [P.decode(o.data) for o in outs if isinstance(o, Respond)]
    assert [r.kiss_code for r in replies] == [None, None, "RATE"]
    assert [o.reason for o in outs if isinstance(o, Ignore)] == [IgnoreReason.RATE_LIMITED] * 2
    kod = replies[2]
    assert kod.origin_ts == kod.receive_ts == kod.transmit_ts == CLIENT_XMT
    assert kod.poll == 6  # the request's poll: already above the limit's interval (0)
    slow = core(ratelimit=RateLimitConfig(interval=8, burst=1, leak=0))
    answer(slow, request(poll=4), client="127.0.0.8")
    assert answer(slow, request(poll=4), client="127.0.0.8").poll == 8  # "ask every 256 s"
    # one second later one token is back
    assert not answer(c, request(), client="127.0.0.9", rx_ns=NOW_NS + 10**9 + 5).is_kod
    log = c.client_log.get("127.0.0.9")
    assert log is not None and (log.requests, log.responses, log.kods, log.drops) == (6, 3, 1, 2)
    assert c.counters["kod-rate"] == 1 and c.counters["dropped-rate-limited"] == 2


KEYS = KeyStore(
    [
        SymmetricKey(1, "md5", b"md5-secret"),
        SymmetricKey(2, "sha1", b"sha1-secret"),
        SymmetricKey(3, "aes128", bytes(range(16))),
    ]
)


@pytest.mark.parametrize("key_id", [1, 2, 3])
def test_valid_mac_gets_signed_reply(key_id: int) -> None:
    key = KEYS[key_id]
    c = core(keys=KEYS)
    req = key.sign(request())
    out = c.handle("127.0.0.1", NOW_NS, req, FakeClock(NOW_NS), 0)
    assert isinstance(out, Respond)
    assert len(out.data) == len(req)
    r = P.decode(out.data)
    assert r.mac is not None and r.mac.key_id == key_id
    assert key.verify(out.data[: P.mac_offset(out.data, r)], r.mac.digest)
    assert c.client_log.get("127.0.0.1").key_id == key_id  # type: ignore[union-attr]


def test_bad_or_unknown_mac_gets_no_reply() -> None:
    c = core(keys=KEYS)
    wrong = SymmetricKey(1, "md5", b"not-the-secret").sign(request())
    assert ignored(c, wrong) is IgnoreReason.BAD_MAC
    assert ignored(c, SymmetricKey(9, "md5", b"x").sign(request())) is IgnoreReason.UNKNOWN_KEY
    flipped = bytearray(KEYS[3].sign(request()))
    flipped[5] ^= 1  # tamper with the header after signing
    assert ignored(c, bytes(flipped)) is IgnoreReason.BAD_MAC


def test_require_auth_drops_unauthenticated() -> None:
    c = core(keys=KEYS, require_auth=True)
    assert ignored(c, request()) is IgnoreReason.UNAUTHENTICATED
    assert ignored(c, request() + bytes(4)) is IgnoreReason.UNAUTHENTICATED  # crypto-NAK
    assert answer(c, KEYS[1].sign(request())).mac is not None


def test_counters_add_up() -> None:
    c = core()
    answer(c, request())
    ignored(c, request(mode=6))
    ignored(c, b"x")
    assert c.counters["received"] == 3
    assert c.counters["answered"] == 1
    assert c.counters["dropped-mode"] == 1 and c.counters["dropped-short"] == 1


# ---------------------------------------------------------------- properties

datagrams = st.binary(min_size=0, max_size=120) | st.builds(
    lambda head, tail: head + tail, st.binary(min_size=48, max_size=48), st.binary(max_size=72)
)


@settings(max_examples=500)
@given(datagrams, st.integers(0, 2**96 - 1), st.integers(-(10**12), 10**12))
def test_handle_never_crashes_amplifies_or_answers_control(
    data: bytes, bits: int, skew_ns: int
) -> None:
    c = core(keys=KEYS)
    out = c.handle("127.0.0.1", NOW_NS, data, FakeClock(NOW_NS + skew_ns), bits)
    if isinstance(out, Respond):
        assert len(out.data) <= len(data)
        assert data[0] & 7 in (1, 3)
        assert 1 <= (data[0] >> 3) & 7 <= 4
        r = P.decode(out.data)
        assert r.mode in (2, 4)
        assert struct.unpack("!Q", out.data[24:32]) == struct.unpack("!Q", data[40:48])
    else:
        assert out.reason in IgnoreReason


@given(st.binary(min_size=72, max_size=72), st.sampled_from([68, 72]))
def test_mac_fast_path_agrees_with_the_codec(data: bytes, n: int) -> None:
    data = bytes([0x23]) + data[1:n]  # v4 client, header + a 20/24-octet MAC
    assert P.decode(data).mac == P.Mac(int.from_bytes(data[48:52], "big"), data[52:])
