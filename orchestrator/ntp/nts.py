"""NTS for NTP packets (RFC 8915 §5): check a request's extension fields, seal the reply.

Pure: random bytes come from the `random_bytes` callable given to `NtsServer`.

Extension fields (type, length incl. the 4-octet header, a multiple of 4, >= 16):
    0x0104 Unique Identifier     >= 32 octets, echoed in the reply
    0x0204 NTS Cookie            exactly one in a request
    0x0304 Cookie Placeholder    the cookie's length; one more cookie wanted each
    0x0404 Authenticator and Encrypted Extension Fields: last; nonce length (u16),
           ciphertext length (u16), nonce, ciphertext (each padded to 4), padding.
           AES-SIV with associated data = the packet before this field, and the nonce.
A request is NTS when it carries any of these types. It must be NTPv4 mode 3, hold a
unique identifier, one cookie and a last authenticator, or it is dropped (`NtsError`).
A cookie that is not ours (any more), or an authenticator that does not verify under
the cookie's C2S key, gets an NTS NAK (KoD NTSN with the unique identifier, §5.7).
Otherwise the reply carries the identifier and an authenticator (S2C key) whose
encrypted part holds one fresh cookie per cookie and placeholder (8 at most), padded
so that the reply is exactly as long as the request and never longer: cookies are
left out until it fits. Fields of other types are ignored (and authenticated).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from orchestrator.ntp.nts_cookie import KEY_LEN, NONCE_LEN, TAG_LEN, CookieJar, KeyRing, RandomBytes

UNIQUE_ID = 0x0104
COOKIE = 0x0204
COOKIE_PLACEHOLDER = 0x0304
AUTHENTICATOR = 0x0404
NTS_FIELD_TYPES = frozenset((UNIQUE_ID, COOKIE, COOKIE_PLACEHOLDER, AUTHENTICATOR))
MIN_UNIQUE_ID = 32
MAX_COOKIES = 8
HEADER_LEN = 48
MIN_EF_LEN = 16

_EF = struct.Struct("!HH")


class NtsError(ValueError):
    """A request with NTS fields that cannot be an NTS request: dropped without reply."""


class Field(NamedTuple):
    ftype: int
    start: int  # offset of the field header
    end: int  # offset after the field

    def body(self, data: bytes) -> bytes:
        return data[self.start + 4 : self.end]


def fields(data: bytes, start: int, min_len: int = MIN_EF_LEN) -> Iterator[Field]:
    """The extension fields from `start` to the end of `data`; NtsError on a bad layout."""
    pos, n = start, len(data)
    while pos < n:
        if n - pos < 4:
            raise NtsError(f"{n - pos} trailing octets")
        ftype, flen = _EF.unpack_from(data, pos)
        if flen < min_len or flen % 4 or flen > n - pos:
            raise NtsError(f"extension field at {pos}: bad length {flen}")
        yield Field(ftype, pos, pos + flen)
        pos += flen


def has_nts_fields(data: bytes) -> bool:
    """Does a (well-formed) NTPv4 packet carry any NTS extension field?"""
    try:
        return any(f.ftype in NTS_FIELD_TYPES for f in fields(data, HEADER_LEN))
    except NtsError:
        return False


def _pad(n: int) -> int:
    return (n + 3) & ~3


def make_field(ftype: int, body: bytes) -> bytes:
    """An extension field, its body zero-padded to a multiple of 4."""
    padded = body + bytes(_pad(len(body)) - len(body))
    return _EF.pack(ftype, 4 + len(padded)) + padded


def parse_authenticator(data: bytes, auth: Field) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of an authenticator field; NtsError when malformed."""
    body = auth.body(data)
    if len(body) < 4:
        raise NtsError("authenticator too short")
    nonce_len, ct_len = _EF.unpack_from(body)
    if nonce_len < 1 or ct_len < TAG_LEN:
        raise NtsError("authenticator: bad nonce or ciphertext length")
    # the nonce field is at least 16 octets (RFC 8915 §5.6), both parts padded
    if 4 + max(_pad(nonce_len), NONCE_LEN) + _pad(ct_len) > len(body):
        raise NtsError("authenticator: lengths exceed the field")
    ct_start = 4 + _pad(nonce_len)
    return body[4 : 4 + nonce_len], body[ct_start : ct_start + ct_len]


def authenticator(
    associated: bytes, key: bytes, nonce: bytes, plaintext: bytes, min_field_len: int = 0
) -> bytes:
    """The authenticator field sealing `plaintext` (encrypted extension fields) and
    authenticating `associated` (the packet before it), at least `min_field_len` long."""
    ciphertext = AESSIV(key).encrypt(plaintext, [associated, nonce])
    body = _EF.pack(len(nonce), len(ciphertext))
    body += nonce + bytes(_pad(len(nonce)) - len(nonce))
    body += ciphertext + bytes(_pad(len(ciphertext)) - len(ciphertext))
    body += bytes(max(0, min_field_len - 4 - len(body)))
    return _EF.pack(AUTHENTICATOR, 4 + len(body)) + body


def open_authenticator(data: bytes, auth: Field, key: bytes) -> bytes | None:
    """The plaintext of an authenticator over `data[:auth.start]`, None if it fails to verify."""
    nonce, ciphertext = parse_authenticator(data, auth)
    try:
        return AESSIV(key).decrypt(ciphertext, [data[: auth.start], nonce])
    except InvalidTag:
        return None


@dataclass(frozen=True, slots=True)
class NtsNak:
    """Answer with KoD NTSN carrying this unique identifier field (`reason` for counters)."""

    unique_id: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class NtsRequest:
    """A verified request and what its reply needs, prepared before the transmit
    timestamp is read (as chrony does): only the reply's own encryption comes after."""

    unique_id: bytes = field(repr=False)  # the whole field, echoed verbatim
    s2c: bytes = field(repr=False)
    cookies: tuple[bytes, ...] = field(repr=False)  # fresh cookie fields (1..8)
    nonce: bytes = field(repr=False)


class NtsServer:
    """The NTS side of the NTP server: one per worker, keys from the NTS-KE server."""

    def __init__(self, ring: KeyRing, random_bytes: RandomBytes) -> None:
        self.jar = CookieJar(ring)
        self.random_bytes = random_bytes

    def set_keys(self, ring: KeyRing) -> None:
        self.jar.set_ring(ring)

    def check(self, data: bytes) -> NtsRequest | NtsNak:
        """Check a request carrying NTS fields. NtsError: drop it."""
        if len(data) < HEADER_LEN or data[0] & 0x3F != (4 << 3 | 3):
            raise NtsError("NTS needs an NTPv4 client request")
        uid: Field | None = None
        cookie: Field | None = None
        auth: Field | None = None
        wanted = 0
        cookie_len = -1
        for f in fields(data, HEADER_LEN):
            if auth is not None:
                raise NtsError("authenticator is not the last field")
            if f.ftype == UNIQUE_ID:
                if uid is not None or f.end - f.start - 4 < MIN_UNIQUE_ID:
                    raise NtsError("one unique identifier of >= 32 octets needed")
                uid = f
            elif f.ftype in (COOKIE, COOKIE_PLACEHOLDER):
                if f.ftype == COOKIE:
                    if cookie is not None:
                        raise NtsError("more than one cookie")
                    cookie = f
                if cookie_len not in (-1, f.end - f.start):
                    raise NtsError("cookie placeholders must have the cookie's length")
                cookie_len = f.end - f.start
                wanted += 1
            elif f.ftype == AUTHENTICATOR:
                auth = f
        if uid is None or cookie is None or auth is None:
            raise NtsError("unique identifier, cookie and authenticator needed")
        unique_id = data[uid.start : uid.end]
        keys = self.jar.open(cookie.body(data))
        if keys is None:
            return NtsNak(unique_id, "cookie")
        c2s, s2c = keys
        plaintext = open_authenticator(data, auth, c2s)
        if plaintext is None:
            return NtsNak(unique_id, "authenticator")
        for f in fields(plaintext, 0, 4):  # RFC 8915 §5.6: no minimum inside
            if f.ftype == COOKIE_PLACEHOLDER:
                if f.end - f.start != cookie_len:
                    raise NtsError("cookie placeholders must have the cookie's length")
                wanted += 1
        rnd, jar = self.random_bytes, self.jar
        cookies = tuple(
            make_field(COOKIE, jar.make(c2s, s2c, rnd(NONCE_LEN)))
            for _ in range(min(wanted, MAX_COOKIES))
        )
        return NtsRequest(unique_id, s2c, cookies, rnd(NONCE_LEN))

    def seal(self, request: NtsRequest, header: bytes, max_len: int) -> tuple[bytes, int] | None:
        """(reply, cookies in it): `header` + identifier + authenticator with fresh cookies,
        exactly `max_len` long (or None if even without cookies it would be longer)."""
        head = header + request.unique_id
        cookies = list(request.cookies)
        nonce = request.nonce
        room = max_len - len(head)
        while True:
            plain = b"".join(cookies)
            need = 4 + 4 + NONCE_LEN + _pad(TAG_LEN + len(plain))
            if need <= room:
                return head + authenticator(head, request.s2c, nonce, plain, room), len(cookies)
            if not cookies:
                return None
            cookies.pop()


# ---------------------------------------------------------------------- client side
# What an NTS client sends and checks (tests, the benchmark, the lab).


def client_request(
    header: bytes,
    unique_id: bytes,
    cookie: bytes,
    c2s: bytes,
    nonce: bytes,
    placeholders: int = 0,
) -> bytes:
    """An NTS request: header, identifier, cookie, placeholders, authenticator (no
    encrypted fields)."""
    if len(c2s) != KEY_LEN:
        raise ValueError("C2S key must be 32 octets")
    head = header + make_field(UNIQUE_ID, unique_id) + make_field(COOKIE, cookie)
    head += make_field(COOKIE_PLACEHOLDER, bytes(len(cookie))) * placeholders
    return head + authenticator(head, c2s, nonce, b"")


def client_open_reply(reply: bytes, unique_id: bytes, s2c: bytes) -> list[bytes] | None:
    """The fresh cookies of a verified reply to our request, None if it does not verify
    or does not echo our identifier."""
    try:
        got = list(fields(reply, HEADER_LEN))
        if len(got) < 2 or got[-1].ftype != AUTHENTICATOR:
            return None
        uids = [f for f in got if f.ftype == UNIQUE_ID]
        if len(uids) != 1 or uids[0].body(reply) != make_field(UNIQUE_ID, unique_id)[4:]:
            return None
        plaintext = open_authenticator(reply, got[-1], s2c)
        if plaintext is None:
            return None
        return [f.body(plaintext) for f in fields(plaintext, 0, 4) if f.ftype == COOKIE]
    except NtsError:
        return None
