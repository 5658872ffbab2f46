"""NTS Key Establishment records (RFC 8915 §4): parse a client's request, build the answer.

Pure: the TLS shell (`orchestrator.serve.ntske`) reads the request, calls
`read_message()` until it is complete, `negotiate()`, exports the keys for the agreed
AEAD, makes cookies and sends `response()`.

A record is  C|type (u16, C = critical bit 0x8000), body length (u16), body.
What the server accepts (as chrony's NTS-KE server does):
  * exactly one Next Protocol record (critical, >= 1 u16 id); NTPv4 = 0;
  * for NTPv4, exactly one AEAD Algorithm record (>= 1 u16 id); the first id we support
    (only AEAD_AES_SIV_CMAC_256 = 15) is chosen;
  * Error, Warning and New Cookie records from a client: Bad Request;
  * NTPv4 Server/Port Negotiation records from a client: recognised, ignored;
  * an unknown record with the critical bit: Error "Unrecognized Critical Record";
    an unknown one without it: ignored;
  * End of Message (critical, empty) last; nothing after it; 16384 octets at most.
The answer: Next Protocol, AEAD, NTPv4 Port (when the NTP port is not 123), optional
NTPv4 Server, eight New Cookie records, End of Message; or Error + End of Message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from orchestrator.ntp.nts_cookie import AEAD_AES_SIV_CMAC_256

ALPN = b"ntske/1"
PORT = 4460
EXPORTER_LABEL = b"EXPORTER-network-time-security"
MAX_MESSAGE = 16384
COOKIES_PER_SESSION = 8

CRITICAL = 0x8000
END_OF_MESSAGE = 0
NEXT_PROTOCOL = 1
ERROR = 2
WARNING = 3
AEAD_ALGORITHM = 4
NEW_COOKIE = 5
NTPV4_SERVER = 6
NTPV4_PORT = 7

ERR_UNRECOGNIZED_CRITICAL = 0
ERR_BAD_REQUEST = 1
ERR_INTERNAL = 2

PROTOCOL_NTPV4 = 0
SUPPORTED_AEADS = (AEAD_AES_SIV_CMAC_256,)
NTP_PORT = 123

_HEAD = struct.Struct("!HH")


class KeError(ValueError):
    """A request that is not a well-formed NTS-KE message (answer Bad Request, then close)."""


class Record(NamedTuple):
    critical: bool
    rtype: int
    body: bytes


def encode_record(rtype: int, body: bytes = b"", *, critical: bool = True) -> bytes:
    if not 0 <= rtype < CRITICAL or len(body) > 0xFFFF:
        raise ValueError(f"NTS-KE record type {rtype} / length {len(body)} out of range")
    return _HEAD.pack(rtype | (CRITICAL if critical else 0), len(body)) + body


def read_message(data: bytes) -> list[Record] | None:
    """The records of a complete message (ending with End of Message), None while more
    data is needed; KeError when it can never become a valid message."""
    records: list[Record] = []
    pos, n = 0, len(data)
    while n - pos >= 4:
        word, length = _HEAD.unpack_from(data, pos)
        if n - pos - 4 < length:
            break
        record = Record(
            bool(word & CRITICAL), word & ~CRITICAL, bytes(data[pos + 4 : pos + 4 + length])
        )
        pos += 4 + length
        if record.rtype == END_OF_MESSAGE:
            if length or not record.critical:
                raise KeError("End of Message must be critical and empty")
            if pos != n:
                raise KeError("data after End of Message")
            return records
        records.append(record)
    if n > MAX_MESSAGE:
        raise KeError(f"no End of Message in {MAX_MESSAGE} octets")
    return None


def _u16s(body: bytes) -> list[int] | None:
    if len(body) < 2 or len(body) % 2:
        return None
    return [v for (v,) in struct.iter_unpack("!H", body)]


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What the server agreed to: an error code, or a protocol (None: none supported) and
    an AEAD (None: none supported)."""

    error: int | None = None
    protocol: int | None = None
    aead: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.protocol == PROTOCOL_NTPV4 and self.aead is not None


def negotiate(records: list[Record]) -> Negotiation:
    protocols: list[int] = []
    aeads: list[int] = []
    n_protocol_records = n_aead_records = 0
    for rec in records:
        if rec.rtype == NEXT_PROTOCOL:
            values = _u16s(rec.body)
            if not rec.critical or values is None:
                return Negotiation(error=ERR_BAD_REQUEST)
            n_protocol_records += 1
            protocols += values
        elif rec.rtype == AEAD_ALGORITHM:
            values = _u16s(rec.body)
            if values is None:
                return Negotiation(error=ERR_BAD_REQUEST)
            n_aead_records += 1
            aeads += values
        elif rec.rtype in (ERROR, WARNING, NEW_COOKIE):
            return Negotiation(error=ERR_BAD_REQUEST)
        elif rec.rtype in (NTPV4_SERVER, NTPV4_PORT):
            continue  # a client's preference; we serve NTP ourselves
        elif rec.critical:
            return Negotiation(error=ERR_UNRECOGNIZED_CRITICAL)
    if n_protocol_records != 1:
        return Negotiation(error=ERR_BAD_REQUEST)
    if PROTOCOL_NTPV4 not in protocols:
        return Negotiation()
    if n_aead_records != 1:
        return Negotiation(error=ERR_BAD_REQUEST)
    aead = next((a for a in aeads if a in SUPPORTED_AEADS), None)
    return Negotiation(protocol=PROTOCOL_NTPV4, aead=aead)


def response(
    negotiation: Negotiation,
    cookies: list[bytes] | tuple[bytes, ...] = (),
    *,
    ntp_port: int = NTP_PORT,
    ntp_server: str | None = None,
) -> bytes:
    """The server's message for a negotiation (cookies only when it succeeded)."""
    eom = encode_record(END_OF_MESSAGE)
    if negotiation.error is not None:
        return encode_record(ERROR, struct.pack("!H", negotiation.error)) + eom
    if negotiation.protocol is None:
        return encode_record(NEXT_PROTOCOL) + eom
    parts = [encode_record(NEXT_PROTOCOL, struct.pack("!H", negotiation.protocol))]
    if negotiation.aead is None:
        return parts[0] + encode_record(AEAD_ALGORITHM) + eom
    parts.append(encode_record(AEAD_ALGORITHM, struct.pack("!H", negotiation.aead)))
    if ntp_port != NTP_PORT:
        parts.append(encode_record(NTPV4_PORT, struct.pack("!H", ntp_port)))
    if ntp_server:
        parts.append(encode_record(NTPV4_SERVER, ntp_server.encode("ascii")))
    parts += [encode_record(NEW_COOKIE, c, critical=False) for c in cookies]
    parts.append(eom)
    return b"".join(parts)


def exporter_context(protocol: int, aead: int, server_to_client: bool) -> bytes:
    """RFC 8915 §5.1: protocol id, AEAD id, 0x00 (C2S) or 0x01 (S2C)."""
    return struct.pack("!HHB", protocol, aead, 1 if server_to_client else 0)


def request(
    protocols: tuple[int, ...] = (PROTOCOL_NTPV4,), aeads: tuple[int, ...] = (15,)
) -> bytes:
    """A client's request (for tests and the benchmark)."""
    return (
        encode_record(NEXT_PROTOCOL, b"".join(struct.pack("!H", p) for p in protocols))
        + encode_record(AEAD_ALGORITHM, b"".join(struct.pack("!H", a) for a in aeads))
        + encode_record(END_OF_MESSAGE)
    )
