"""The NTP packet codec (RFC 5905 §7.3, RFC 7822 extension fields, legacy MAC).

Pure: bytes in, `NtpPacket` out and back. Field values are the raw wire values
(timestamps are 64-bit ints, see `orchestrator.ntp.timestamps`; root delay and
dispersion are 16.16 short-format ints with `*_s` helpers), so
`decode(p.encode()) == p` and `decode(data).encode() == data` for every packet
that decodes.

    from orchestrator.ntp import packet, timestamps
    req = packet.client_request(timestamps.from_unix_ns(now_ns))   # mode 3, v4
    wire = req.encode()
    reply = packet.decode(datagram)        # raises PacketError if malformed
    if reply.is_kod: ... reply.kiss_code   # "RATE", "DENY", ...

Layout after the 48-octet header:
  * NTPv4: extension fields (type u16, length u16 incl. the 4-octet header, length
    >= 16 and a multiple of 4), then an optional MAC. As in chrony, trailing data of
    4 octets (crypto-NAK) or 20/24 octets (key id + 16/20-octet digest) is the MAC;
    anything else must parse as an extension field (RFC 7822 §7.5.1.4).
  * NTPv1-3: no extension fields; trailing data is a MAC (4, or 20..68 octets).
Packets whose length is not a multiple of 4 are malformed (as in chrony).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from dataclasses import dataclass, replace

HEADER_LEN = 48
HEADER = struct.Struct("!BBbbII4sQQQQ")

MODE_RESERVED = 0
MODE_SYMMETRIC_ACTIVE = 1
MODE_SYMMETRIC_PASSIVE = 2
MODE_CLIENT = 3
MODE_SERVER = 4
MODE_BROADCAST = 5
MODE_CONTROL = 6
MODE_PRIVATE = 7

LEAP_NONE = 0
LEAP_ADD_SECOND = 1
LEAP_DEL_SECOND = 2
LEAP_UNSYNCHRONISED = 3

STRATUM_UNSPECIFIED = 0  # also "kiss-o'-death" on the wire
STRATUM_UNSYNCHRONISED = 16

MIN_EF_LEN = 16
MIN_LAST_EF_LEN = 28  # without a MAC (RFC 7822 §7.5.1.4)
CRYPTO_NAK_LEN = 4
V4_MAC_LENS = (20, 24)  # key id + 16-octet (MD5, AES-CMAC) or 20-octet (SHA1) digest
MAX_LEGACY_MAC_LEN = 4 + 64

# RFC 5905 §7.4 Figure 13 kiss codes the server sends.
KISS_RATE = b"RATE"
KISS_DENY = b"DENY"
KISS_RSTR = b"RSTR"
KISS_AUTH = b"AUTH"
KISS_CRYP = b"CRYP"
KISS_NKEY = b"NKEY"


class PacketError(ValueError):
    """A datagram that is not a well-formed NTP packet (message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class ExtensionField:
    """One RFC 7822 extension field. `value` is everything after the 4-octet field header."""

    field_type: int
    value: bytes

    @property
    def wire_length(self) -> int:
        return 4 + len(self.value)


@dataclass(frozen=True, slots=True)
class Mac:
    """A legacy MAC: key id + digest (empty digest = crypto-NAK)."""

    key_id: int
    digest: bytes

    @property
    def wire_length(self) -> int:
        return 4 + len(self.digest)

    def __repr__(self) -> str:
        # digests are not secret, but there is no reason to spray them into logs either
        return f"Mac(key_id={self.key_id}, digest=<{len(self.digest)} octets>)"


@dataclass(frozen=True, slots=True)
class NtpPacket:
    """One NTP packet, field by field, in wire units.

    leap 0..3, version 0..7, mode 0..7, stratum 0..255, poll and precision signed
    log2 seconds, root_delay / root_dispersion 16.16 raw, ref_id 4 bytes, timestamps
    64-bit 32.32 raw ints.
    """

    leap: int = LEAP_NONE
    version: int = 4
    mode: int = MODE_CLIENT
    stratum: int = 0
    poll: int = 0
    precision: int = 0
    root_delay: int = 0
    root_dispersion: int = 0
    ref_id: bytes = b"\x00\x00\x00\x00"
    ref_ts: int = 0
    origin_ts: int = 0
    receive_ts: int = 0
    transmit_ts: int = 0
    extensions: tuple[ExtensionField, ...] = ()
    mac: Mac | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def root_delay_s(self) -> float:
        return self.root_delay / 65536.0

    @property
    def root_dispersion_s(self) -> float:
        return self.root_dispersion / 65536.0

    @property
    def is_kod(self) -> bool:
        """A kiss-o'-death: a server/passive reply, stratum 0, a kiss code (RFC 5905 §7.4).

        An unsynchronised server also sends stratum 0, but with a zero refid: not a KoD.
        """
        return (
            self.stratum == STRATUM_UNSPECIFIED
            and self.mode in (MODE_SERVER, MODE_SYMMETRIC_PASSIVE)
            and self.ref_id != b"\x00\x00\x00\x00"
        )

    @property
    def kiss_code(self) -> str | None:
        """The ASCII kiss code ("RATE", "DENY", ...) of a KoD, else None."""
        if not self.is_kod:
            return None
        try:
            return self.ref_id.decode("ascii").rstrip("\x00")
        except UnicodeDecodeError:
            return None

    def without_mac(self) -> NtpPacket:
        return replace(self, mac=None)

    def encode(self) -> bytes:
        """The wire form. Raises PacketError if a field is out of range."""
        return encode(self)


# ---------------------------------------------------------------------- encoding


def encode_header(p: NtpPacket) -> bytes:
    """The 48-octet header alone."""
    if not (0 <= p.leap <= 3 and 0 <= p.version <= 7 and 0 <= p.mode <= 7):
        raise PacketError(f"leap/version/mode out of range: {p.leap}/{p.version}/{p.mode}")
    if len(p.ref_id) != 4:
        raise PacketError(f"ref_id must be 4 octets, got {len(p.ref_id)}")
    try:
        return HEADER.pack(
            (p.leap << 6) | (p.version << 3) | p.mode,
            p.stratum,
            p.poll,
            p.precision,
            p.root_delay,
            p.root_dispersion,
            p.ref_id,
            p.ref_ts,
            p.origin_ts,
            p.receive_ts,
            p.transmit_ts,
        )
    except struct.error as exc:
        raise PacketError(f"field out of range: {exc}") from None


def encode(p: NtpPacket, *, include_mac: bool = True) -> bytes:
    """Header + extension fields (+ MAC unless `include_mac` is False: the bytes a MAC covers)."""
    parts = [encode_header(p)]
    if p.extensions and p.version != 4:
        raise PacketError("extension fields need NTPv4")
    for i, ef in enumerate(p.extensions):
        n = ef.wire_length
        if n % 4 or n < MIN_EF_LEN or n > 0xFFFF or not 0 <= ef.field_type <= 0xFFFF:
            raise PacketError(f"extension field {i}: bad type or length {n}")
        parts.append(struct.pack("!HH", ef.field_type, n))
        parts.append(ef.value)
    if p.extensions and p.mac is None and p.extensions[-1].wire_length < MIN_LAST_EF_LEN:
        raise PacketError(f"the last extension field needs >= {MIN_LAST_EF_LEN} octets without MAC")
    # decode() reads 4, 20 or 24 trailing octets as a MAC wherever they start: an extension
    # field must never start where what follows has such a length (e.g. a 16-octet field
    # followed by a crypto-NAK looks like a 20-octet MAC).
    tail = p.mac.wire_length if include_mac and p.mac is not None else 0
    for ef in reversed(p.extensions):
        tail += ef.wire_length
        if tail == CRYPTO_NAK_LEN or tail in V4_MAC_LENS:
            raise PacketError("ambiguous layout: an extension field would read as a MAC")
    if include_mac and p.mac is not None:
        m = p.mac
        allowed = _mac_len_ok(p.version, m.wire_length)
        if not allowed or not 0 <= m.key_id <= 0xFFFFFFFF:
            raise PacketError(f"MAC of {m.wire_length} octets not valid in NTPv{p.version}")
        parts.append(m.key_id.to_bytes(4, "big"))
        parts.append(m.digest)
    return b"".join(parts)


def _mac_len_ok(version: int, n: int) -> bool:
    if n == CRYPTO_NAK_LEN:
        return True
    if version == 4:
        return n in V4_MAC_LENS
    return 20 <= n <= MAX_LEGACY_MAC_LEN and n % 4 == 0


# ---------------------------------------------------------------------- decoding


def decode(data: bytes) -> NtpPacket:
    """Parse one datagram. Raises PacketError (and nothing else) when it is malformed."""
    n = len(data)
    if n < HEADER_LEN:
        raise PacketError(f"short packet: {n} octets, need {HEADER_LEN}")
    if n % 4:
        raise PacketError(f"length {n} is not a multiple of 4")
    (b0, stratum, poll, precision, rdelay, rdisp, ref_id, ref, org, rec, xmt) = HEADER.unpack_from(
        data
    )
    version = (b0 >> 3) & 7
    extensions: list[ExtensionField] = []
    mac: Mac | None = None
    pos = HEADER_LEN
    while pos < n:
        remainder = n - pos
        if _mac_len_ok(version, remainder) and (version != 4 or remainder <= 24):
            mac = Mac(int.from_bytes(data[pos : pos + 4], "big"), bytes(data[pos + 4 :]))
            break
        if version != 4:
            raise PacketError(f"NTPv{version} packet with {remainder} trailing octets")
        if remainder < MIN_EF_LEN:
            raise PacketError(f"{remainder} trailing octets: neither extension field nor MAC")
        ftype, flen = struct.unpack_from("!HH", data, pos)
        if flen < MIN_EF_LEN or flen % 4 or flen > remainder:
            raise PacketError(f"extension field at {pos}: bad length {flen}")
        extensions.append(ExtensionField(ftype, bytes(data[pos + 4 : pos + flen])))
        pos += flen
    return NtpPacket(
        leap=b0 >> 6,
        version=version,
        mode=b0 & 7,
        stratum=stratum,
        poll=poll,
        precision=precision,
        root_delay=rdelay,
        root_dispersion=rdisp,
        ref_id=ref_id,
        ref_ts=ref,
        origin_ts=org,
        receive_ts=rec,
        transmit_ts=xmt,
        extensions=tuple(extensions),
        mac=mac,
    )


def mac_offset(data: bytes, packet: NtpPacket) -> int:
    """Where the MAC starts in `data` (== len(data) without one): the bytes a MAC covers."""
    return len(data) - (packet.mac.wire_length if packet.mac is not None else 0)


# ---------------------------------------------------------------------- builders


def client_request(
    transmit_ts: int,
    *,
    version: int = 4,
    poll: int = 6,
    mode: int = MODE_CLIENT,
    leap: int = LEAP_NONE,
) -> NtpPacket:
    """A client (mode 3) request as chrony sends it: only the transmit timestamp set."""
    return NtpPacket(
        leap=leap,
        version=version,
        mode=mode,
        poll=poll,
        transmit_ts=transmit_ts,
    )


def kiss_of_death(request: NtpPacket, code: bytes, *, precision: int = 0) -> NtpPacket:
    """A KoD answering `request` (RFC 5905 §7.4).

    LI=3, stratum 0, refid = code; origin = the request's transmit timestamp (so the
    client can validate it, CVE-2015-7704) and receive = transmit = the same value
    (NTPsec style: a client that ignores the KoD computes nothing useful).
    """
    if len(code) != 4:
        raise PacketError("kiss code must be 4 ASCII octets")
    reply_mode = MODE_SYMMETRIC_PASSIVE if request.mode == MODE_SYMMETRIC_ACTIVE else MODE_SERVER
    t = request.transmit_ts
    return NtpPacket(
        leap=LEAP_UNSYNCHRONISED,
        version=request.version,
        mode=reply_mode,
        stratum=STRATUM_UNSPECIFIED,
        poll=request.poll,
        precision=precision,
        ref_id=code,
        origin_ts=t,
        receive_ts=t,
        transmit_ts=t,
    )


def refid_for_address(address: str) -> bytes:
    """Reference ID for an upstream server (RFC 5905 §7.3).

    IPv4: the address itself; IPv6: the first four octets of the MD5 of the address.
    """
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ip.packed
    return hashlib.md5(ip.packed, usedforsecurity=False).digest()[:4]


def refid_text(ref_id: bytes, stratum: int) -> str:
    """How ntpq/chronyc print a refid: ASCII code at stratum 0/1, dotted quad otherwise."""
    if stratum <= 1:
        return ref_id.rstrip(b"\x00").decode("ascii", "replace")
    return ".".join(str(b) for b in ref_id)
