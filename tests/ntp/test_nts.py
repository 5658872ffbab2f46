"""NTS in the sans-I/O core: cookies, key rotation, extension fields, NTS-KE records."""

from __future__ import annotations

import random
import struct

import pytest

from orchestrator.ntp import nts, nts_ke
from orchestrator.ntp import packet as P
from orchestrator.ntp.nts_cookie import COOKIE_LEN, CookieJar, KeyRing
from orchestrator.ntp.server import (
    KISS_NTSN,
    Ignore,
    NtpServerCore,
    Respond,
    ServerPolicy,
    SystemState,
)

NOW_NS = 1_790_000_000 * 10**9
NOW = NOW_NS / 1e9
STATE = SystemState(leap=0, stratum=2, ref_id=b"\x7f\x00\x00\x01", ref_time_ns=NOW_NS,
                    root_delay_s=0.001, root_dispersion_s=0.001, precision=-20)  # fmt: skip
C2S, S2C = bytes(range(32)), bytes(range(32, 64))
UID = bytes(range(100, 132))


def rnd(seed: int = 1) -> random.Random:
    return random.Random(seed)


def ring(seed: int = 1, rotate_s: float = 3600, keep: int = 2) -> KeyRing:
    return KeyRing.new(NOW, rnd(seed).randbytes, rotate_s, keep)


def core(keys: KeyRing | None = None) -> NtpServerCore:
    policy = ServerPolicy(ratelimit=None, nts_keys=keys or ring())
    return NtpServerCore(policy, STATE, rnd(7).randbytes)


def request(cookie: bytes, *, c2s: bytes = C2S, placeholders: int = 0, xmt: int = 0xE1) -> bytes:
    header = P.client_request(xmt).encode()
    return nts.client_request(header, UID, cookie, c2s, bytes(16), placeholders)


def handle(c: NtpServerCore, data: bytes) -> Respond | Ignore:
    return c.handle("127.0.0.1", NOW_NS, data, lambda: NOW_NS + 1000, 12345)


# ---------------------------------------------------------------------- cookies


def test_cookie_round_trip_and_tamper() -> None:
    jar = CookieJar(ring())
    cookie = jar.make(C2S, S2C, bytes(16))
    assert len(cookie) == COOKIE_LEN == 100
    assert jar.open(cookie) == (C2S, S2C)
    for i in range(len(cookie)):  # any flipped bit: not ours
        bad = bytearray(cookie)
        bad[i] ^= 0x01
        assert jar.open(bytes(bad)) is None
    assert jar.open(cookie[:-1]) is None
    assert CookieJar(ring(seed=2)).open(cookie) is None  # another server's keys


def test_rotation_keeps_old_cookies_for_keep_intervals() -> None:
    r = ring(rotate_s=10, keep=2)
    jar = CookieJar(r)
    cookie = jar.make(C2S, S2C, bytes(16))
    assert not r.due(NOW + 9) and r.due(NOW + 10)
    source = rnd(3).randbytes
    for step in range(1, 4):
        r = r.rotated(NOW + 10 * step, source)
        jar.set_ring(r)
        assert len(r.keys) == min(step + 2, 4)
        assert (jar.open(cookie) is not None) == (step <= 2), step
    # the key issuing cookies was known to every worker one rotation before it issues
    nxt = r.keys[-1]
    assert r.rotated(NOW + 40, source).issuing == nxt


def test_keyring_file_round_trip_and_bad_files() -> None:
    r = ring()
    assert KeyRing.from_dict(r.to_dict(), r.rotate_s, r.keep) == r
    assert "key=" not in repr(r)  # key material never in a repr
    for bad in ({}, {"rotated_at": 1, "keys": "x"}, {"rotated_at": 1, "keys": [{"id": 1}]}):
        with pytest.raises(ValueError):
            KeyRing.from_dict(bad)


# ---------------------------------------------------------------------- NTP with NTS


def test_authenticated_reply_with_fresh_cookies() -> None:
    keys = ring()
    c = core(keys)
    cookie = CookieJar(keys).make(C2S, S2C, bytes(16))
    req = request(cookie, placeholders=3)
    out = handle(c, req)
    assert isinstance(out, Respond)
    assert len(out.data) == len(req)  # never longer, padded to the same length
    reply = P.decode(out.data)
    assert (reply.mode, reply.stratum, reply.origin_ts) == (4, 2, 0xE1)
    cookies = nts.client_open_reply(out.data, UID, S2C)
    assert cookies is not None and len(cookies) == 4
    assert len(set(cookies)) == 4 and cookie not in cookies  # fresh, unlinkable
    assert all(CookieJar(keys).open(k) == (C2S, S2C) for k in cookies)
    assert nts.client_open_reply(out.data, UID, C2S) is None  # S2C, not C2S
    assert c.counters["nts-requests"] == 1 and c.counters["nts-cookies"] == 4
    # a fresh cookie works for the next request
    assert isinstance(handle(c, request(cookies[0])), Respond)


def test_bad_cookie_or_authenticator_gets_nts_nak() -> None:
    keys = ring()
    c = core(keys)
    cookie = CookieJar(keys).make(C2S, S2C, bytes(16))
    req = bytearray(request(cookie))
    uid_field = nts.make_field(nts.UNIQUE_ID, UID)
    cookie_at = 48 + len(uid_field) + 4
    for where in (cookie_at + 30, len(req) - 20):  # a cookie octet, an authenticator octet
        bad = bytearray(req)
        bad[where] ^= 0x40
        out = handle(c, bytes(bad))
        assert isinstance(out, Respond)
        kod = P.decode(out.data)
        assert kod.is_kod and kod.kiss_code == "NTSN" and kod.ref_id == KISS_NTSN
        assert out.data[48:] == uid_field  # the identifier, no cookie, no authenticator
        assert nts.client_open_reply(out.data, UID, S2C) is None
    assert c.counters["nts-auth-failures"] == 2 and c.counters["nts-requests"] == 0
    # a cookie for the right server, but the request sealed with another key
    out = handle(c, request(cookie, c2s=S2C))
    assert isinstance(out, Respond) and P.decode(out.data).kiss_code == "NTSN"


def test_malformed_nts_requests_are_dropped() -> None:
    keys = ring()
    c = core(keys)
    cookie = CookieJar(keys).make(C2S, S2C, bytes(16))
    header = P.client_request(1).encode()
    uid = nts.make_field(nts.UNIQUE_ID, UID)
    ck = nts.make_field(nts.COOKIE, cookie)

    def sealed(head: bytes) -> bytes:
        return head + nts.authenticator(head, C2S, bytes(16), b"")

    cases = {
        "no uid": sealed(header + ck),
        "short uid": sealed(header + nts.make_field(nts.UNIQUE_ID, bytes(16)) + ck),
        "no cookie": sealed(header + uid),
        "two cookies": sealed(header + uid + ck + ck),
        "bad placeholder": sealed(header + uid + ck + nts.make_field(nts.COOKIE_PLACEHOLDER, b"x")),
        "no authenticator": header + uid + ck,
        "auth not last": sealed(header + uid) + ck,
        "mode 1": sealed(P.client_request(1, mode=1).encode() + uid + ck),
    }
    for name, data in cases.items():
        out = handle(c, data)
        assert isinstance(out, Ignore), name
    assert c.counters["dropped-nts-malformed"] >= 6


def test_without_nts_keys_nts_fields_are_ignored_as_before() -> None:
    plain = NtpServerCore(ServerPolicy(ratelimit=None), STATE)
    cookie = CookieJar(ring()).make(C2S, S2C, bytes(16))
    out = handle(plain, request(cookie))
    assert isinstance(out, Respond) and len(out.data) == 48


def test_reply_leaves_out_cookies_rather_than_grow() -> None:
    keys = ring()
    srv = nts.NtsServer(keys, rnd().randbytes)
    cookie = CookieJar(keys).make(C2S, S2C, bytes(16))
    checked = srv.check(request(cookie, placeholders=2))
    assert isinstance(checked, nts.NtsRequest) and len(checked.cookies) == 3
    header = bytes(48)
    full = srv.seal(checked, header, 48 + 36 + 4 + 4 + 16 + 16 + 3 * 104)
    assert full is not None and full[1] == 3
    short = srv.seal(checked, header, 48 + 36 + 4 + 4 + 16 + 16 + 104)
    assert short is not None and short[1] == 1 and len(short[0]) == 48 + 36 + 144
    assert srv.seal(checked, header, 48 + 36 + 16) is None


# ---------------------------------------------------------------------- NTS-KE records


def test_ke_negotiation() -> None:
    ok = nts_ke.read_message(nts_ke.request())
    assert ok is not None
    assert nts_ke.negotiate(ok) == nts_ke.Negotiation(protocol=0, aead=15)
    assert nts_ke.read_message(nts_ke.request()[:-1]) is None  # more to come
    with pytest.raises(nts_ke.KeError):
        nts_ke.read_message(nts_ke.request() + b"\x00")
    rec = nts_ke.encode_record

    def neg(*records: bytes) -> nts_ke.Negotiation:
        msg = nts_ke.read_message(b"".join(records) + rec(nts_ke.END_OF_MESSAGE))
        assert msg is not None
        return nts_ke.negotiate(msg)

    proto, aead = rec(1, b"\x00\x00"), rec(4, b"\x00\x1e\x00\x0f")
    assert neg(proto, aead).aead == 15  # the first one we support
    assert neg(proto, rec(4, b"\x00\x1e")) == nts_ke.Negotiation(protocol=0)  # none
    assert neg(rec(1, b"\x80\x01"), aead) == nts_ke.Negotiation()  # no protocol we speak
    assert neg(proto, aead, rec(0x4000, b"x")).error == 0  # unknown critical record
    assert neg(proto, aead, rec(0x4000, b"x", critical=False)).ok  # unknown, not critical
    for bad in ((aead,), (proto,), (proto, proto, aead), (proto, aead, rec(5, b"c")),
                (rec(1, b"\x00\x00", critical=False), aead), (rec(1, b"\x00"), aead)):  # fmt: skip
        assert neg(*bad).error == nts_ke.ERR_BAD_REQUEST, bad


def test_ke_response_records() -> None:
    cookies = [bytes([i]) * 100 for i in range(8)]
    msg = nts_ke.response(nts_ke.Negotiation(protocol=0, aead=15), cookies, ntp_port=1123)
    records = nts_ke.read_message(msg)
    assert records is not None
    kinds = [(r.rtype, r.critical) for r in records]
    assert kinds[:3] == [(1, True), (4, True), (7, True)]
    assert [r.body for r in records if r.rtype == nts_ke.NEW_COOKIE] == cookies
    assert struct.unpack("!H", records[2].body) == (1123,)
    err = nts_ke.read_message(nts_ke.response(nts_ke.Negotiation(error=1)))
    assert err == [nts_ke.Record(True, nts_ke.ERROR, b"\x00\x01")]
    assert nts_ke.exporter_context(0, 15, True) == b"\x00\x00\x00\x0f\x01"
