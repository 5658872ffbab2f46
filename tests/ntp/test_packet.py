"""Packet codec: golden packets, RFC 7822 layout rules, and round-trip properties."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.ntp import packet as P

# A server reply written out octet by octet from RFC 5905 Figure 8, independent of the codec:
# LI=0 VN=4 mode=4 | stratum 2 | poll 6 | precision -23 | root delay 0x0123 (=0.00444 s)
# root dispersion 0x0456 | refid 192.0.2.1 | ref, origin, receive, transmit timestamps.
GOLDEN_REPLY = bytes.fromhex(
    "24 02 06 e9"
    "00 00 01 23"
    "00 00 04 56"
    "c0 00 02 01"
    "ec 5a 1b 2c 00 00 00 01"
    "ec 5a 1b 30 80 00 00 00"
    "ec 5a 1b 30 80 10 00 00"
    "ec 5a 1b 30 80 20 00 00"
)


def test_decode_golden_reply() -> None:
    p = P.decode(GOLDEN_REPLY)
    assert (p.leap, p.version, p.mode, p.stratum, p.poll, p.precision) == (0, 4, 4, 2, 6, -23)
    assert p.root_delay == 0x123 and p.root_delay_s == pytest.approx(0x123 / 65536)
    assert p.root_dispersion == 0x456
    assert p.ref_id == bytes([192, 0, 2, 1])
    assert P.refid_text(p.ref_id, p.stratum) == "192.0.2.1"
    assert p.ref_ts == 0xEC5A1B2C00000001
    assert p.origin_ts == 0xEC5A1B3080000000
    assert p.receive_ts == 0xEC5A1B3080100000
    assert p.transmit_ts == 0xEC5A1B3080200000
    assert not p.extensions and p.mac is None
    assert p.encode() == GOLDEN_REPLY


def test_golden_ntplib_request() -> None:
    # What ntplib 0.4 sends: NTPv2 (first octet 0x13), mode 3, only transmit set.
    raw = bytes([0x13]) + bytes(39) + struct.pack("!Q", 0xEC5A1B3080000000)
    p = P.decode(raw)
    assert (p.leap, p.version, p.mode) == (0, 2, 3)
    assert p.transmit_ts == 0xEC5A1B3080000000
    assert P.client_request(0xEC5A1B3080000000, version=2, poll=0).encode() == raw


def test_kod_helpers() -> None:
    req = P.client_request(0x1122334455667788, version=3, poll=10)
    kod = P.kiss_of_death(req, P.KISS_RATE)
    wire = kod.encode()
    assert wire[0] == (3 << 6) | (3 << 3) | 4  # LI=3, VN echoed, mode 4
    back = P.decode(wire)
    assert back.is_kod and back.kiss_code == "RATE"
    assert back.origin_ts == back.receive_ts == back.transmit_ts == 0x1122334455667788
    assert back.poll == 10
    assert P.kiss_of_death(P.client_request(1, mode=1), P.KISS_DENY).mode == 2
    assert P.decode(GOLDEN_REPLY).kiss_code is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "short"),
        (GOLDEN_REPLY[:47], "short"),
        (GOLDEN_REPLY + b"\x00", "multiple of 4"),
        (GOLDEN_REPLY + bytes(8), "trailing"),  # v4: 8 octets is neither EF nor MAC
        (GOLDEN_REPLY + struct.pack("!HH", 1, 12) + bytes(24), "extension field"),  # EF < 16
        (GOLDEN_REPLY + struct.pack("!HH", 1, 64) + bytes(28), "extension field"),  # overruns
        (bytes([0x1B]) + GOLDEN_REPLY[1:] + bytes(8), "NTPv3"),  # v3: 8 octets is no MAC
    ],
)
def test_malformed_packets_raise_packet_error(data: bytes, why: str) -> None:
    with pytest.raises(P.PacketError, match=why):
        P.decode(data)


def test_extension_fields_then_mac() -> None:
    ef1 = P.ExtensionField(0x0104, bytes(range(28)))
    ef2 = P.ExtensionField(0x2005, bytes(12))  # 16 octets: fine when a MAC follows
    p = P.NtpPacket(extensions=(ef1, ef2), mac=P.Mac(42, bytes(range(20))))
    wire = p.encode()
    assert len(wire) == 48 + 32 + 16 + 24
    assert P.decode(wire) == p
    assert P.mac_offset(wire, p) == 48 + 32 + 16
    assert P.encode(p, include_mac=False) == wire[: P.mac_offset(wire, p)]


def test_encode_rejects_what_decode_could_not_read_back() -> None:
    with pytest.raises(P.PacketError, match=">= 28"):
        P.NtpPacket(extensions=(P.ExtensionField(1, bytes(12)),)).encode()
    with pytest.raises(P.PacketError, match="NTPv4"):
        P.NtpPacket(version=3, extensions=(P.ExtensionField(1, bytes(28)),)).encode()
    with pytest.raises(P.PacketError, match="MAC"):
        P.NtpPacket(mac=P.Mac(1, bytes(32))).encode()  # v4 MACs are at most 24 octets
    with pytest.raises(P.PacketError, match="ref_id"):
        P.NtpPacket(ref_id=b"abc").encode()
    with pytest.raises(P.PacketError, match="range"):
        P.NtpPacket(stratum=256).encode()


def test_refid_for_addresses() -> None:
    assert P.refid_for_address("192.0.2.7") == bytes([192, 0, 2, 7])
    # IPv6: first 4 octets of MD5(address), RFC 5905 §7.3
    import hashlib
    import ipaddress

    want = hashlib.md5(ipaddress.ip_address("2001:db8::1").packed).digest()[:4]
    assert P.refid_for_address("2001:db8::1") == want


# ---------------------------------------------------------------- properties

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
ef = st.builds(
    P.ExtensionField,
    st.integers(0, 0xFFFF),
    st.integers(3, 20).flatmap(lambda w: st.binary(min_size=4 * w, max_size=4 * w)),
)
mac = st.builds(
    P.Mac,
    u32,
    st.sampled_from([b"", bytes(16), bytes(20)]).flatmap(
        lambda d: st.binary(min_size=len(d), max_size=len(d))
    ),
)


@st.composite
def packets(draw: st.DrawFn) -> P.NtpPacket:
    version = draw(st.integers(0, 7))
    exts = tuple(draw(st.lists(ef, max_size=3))) if version == 4 else ()
    m = draw(st.none() | mac)
    # RFC 7822 layouts only: no short last field without a MAC, and no crypto-NAK after
    # fields (16 + 4 octets would read as a MAC: test_ambiguous_layout_is_refused)
    crypto_nak = m is not None and not m.digest
    if exts and (crypto_nak or (m is None and exts[-1].wire_length < 28)):
        m = P.Mac(1, bytes(16))
    return P.NtpPacket(
        leap=draw(st.integers(0, 3)),
        version=version,
        mode=draw(st.integers(0, 7)),
        stratum=draw(st.integers(0, 255)),
        poll=draw(st.integers(-128, 127)),
        precision=draw(st.integers(-128, 127)),
        root_delay=draw(u32),
        root_dispersion=draw(u32),
        ref_id=draw(st.binary(min_size=4, max_size=4)),
        ref_ts=draw(u64),
        origin_ts=draw(u64),
        receive_ts=draw(u64),
        transmit_ts=draw(u64),
        extensions=exts,
        mac=m,
    )


@given(packets())
def test_encode_decode_round_trip(p: P.NtpPacket) -> None:
    assert P.decode(p.encode()) == p


def test_ambiguous_layout_is_refused() -> None:
    ef16 = P.ExtensionField(0x0104, bytes(12))
    with pytest.raises(P.PacketError, match="ambiguous"):
        P.NtpPacket(extensions=(ef16,), mac=P.Mac(7, b"")).encode()  # reads as a 20-octet MAC


@given(st.binary(max_size=200))
def test_decode_either_raises_packet_error_or_round_trips(data: bytes) -> None:
    try:
        p = P.decode(data)
    except P.PacketError:
        return
    assert p.encode() == data


@given(packets(), st.integers(0, 199), st.integers(0, 255))
def test_mutated_packets_never_escape_packet_error(p: P.NtpPacket, pos: int, val: int) -> None:
    data = bytearray(p.encode())
    data[pos % len(data)] = val
    try:
        back = P.decode(bytes(data))
    except P.PacketError:
        return
    assert back.encode() == bytes(data)
