"""Symmetric-key NTP authentication: keys files and legacy MACs (RFC 5905 §7.3, RFC 8573).

Keys file, the chrony/ntpd `ID TYPE KEY` format, one key per line, `#` comments:

    1 MD5 HEX:3E1F9A...            chrony: HEX: prefix -> hexadecimal key
    2 SHA1 ASCII:secret-words      chrony: ASCII: prefix -> the text itself
    3 AES128 HEX:<32 hex digits>   AES-128-CMAC (RFC 8573), key exactly 16 octets
    4 M plaintext                  ntpd: M = MD5; no prefix -> ASCII if <= 20
    5 SHA1 <40 hex digits>         characters, else hexadecimal (ntpd/NTPsec rule)
    6 plaintext                    chrony: type omitted -> MD5 (the key must not
                                   be a bare type name: `6 MD5` is an error)

Digests: MD5 and SHA1 = H(key || packet) (the legacy, non-HMAC construction every
NTP implementation uses); AES128 = CMAC(key, packet). The packet is the header
plus extension fields, i.e. everything before the MAC. Digests are compared in
constant time. Key material never appears in repr(), str() or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from orchestrator.errors import ConfigError
from orchestrator.models import NtpKey

Algorithm = Literal["md5", "sha1", "aes128"]

DIGEST_LEN: dict[str, int] = {"md5": 16, "sha1": 20, "aes128": 16}

_TYPE_ALIASES: dict[str, Algorithm] = {
    "M": "md5",
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA-1": "sha1",
    "AES128": "aes128",
    "AES-128": "aes128",
    "AES128CMAC": "aes128",
    "AES-128-CMAC": "aes128",
    "CMAC": "aes128",
    "AES": "aes128",  # NTPsec ntp.keys
}
_UNSUPPORTED_TYPES = {"SHA256", "SHA384", "SHA512", "SHA3-224", "SHA3-256", "SHA3-384",
                      "SHA3-512", "TIGER", "WHIRLPOOL", "AES256", "AES-256", "RMD160"}  # fmt: skip
_HEX = set(string.hexdigits)


@dataclass(frozen=True)
class SymmetricKey:
    """One NTP key. `material` is secret: excluded from repr and comparisons print nothing."""

    key_id: int
    algorithm: Algorithm
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.key_id <= 0xFFFFFFFF:
            raise ValueError("key id must be in 1..4294967295")
        if self.algorithm == "aes128" and len(self.material) != 16:
            raise ValueError("an AES128 key must be exactly 16 octets (32 hex digits)")
        if not self.material:
            raise ValueError("empty key")

    def __repr__(self) -> str:
        return f"SymmetricKey(key_id={self.key_id}, algorithm={self.algorithm!r}, material=***)"

    @property
    def digest_len(self) -> int:
        return DIGEST_LEN[self.algorithm]

    def digest(self, data: bytes) -> bytes:
        """The MAC digest of `data` (header + extension fields) under this key."""
        if self.algorithm == "aes128":
            c = CMAC(algorithms.AES(self.material))
            c.update(data)
            return c.finalize()
        h = hashlib.new(self.algorithm, self.material, usedforsecurity=False)
        h.update(data)
        return h.digest()

    def sign(self, data: bytes) -> bytes:
        """`data` followed by the MAC (key id + digest)."""
        return data + self.key_id.to_bytes(4, "big") + self.digest(data)

    def verify(self, data: bytes, digest: bytes) -> bool:
        """Constant-time check of `digest` over `data`."""
        return len(digest) == self.digest_len and hmac.compare_digest(self.digest(data), digest)

    @classmethod
    def from_model(cls, key: NtpKey) -> SymmetricKey:
        """From the inventory's NtpKey (its secret in keys-file KEY syntax)."""
        return cls(key.key_id, key.algorithm, parse_key_text(key.secret.reveal()))


class KeyStore(Mapping[int, SymmetricKey]):
    """Keys by id (read-only mapping)."""

    def __init__(self, keys: Iterable[SymmetricKey] = ()) -> None:
        self._keys = {k.key_id: k for k in keys}

    def __getitem__(self, key_id: int) -> SymmetricKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyStore(ids={sorted(self._keys)})"


def parse_key_text(text: str) -> bytes:
    """KEY column -> key octets (HEX:/ASCII: prefixes, else the ntpd length rule)."""
    if text[:4].upper() == "HEX:":
        digits = text[4:]
        if not digits or len(digits) % 2 or not set(digits) <= _HEX:
            raise ValueError("HEX: key is not an even number of hexadecimal digits")
        return bytes.fromhex(digits)
    if text[:6].upper() == "ASCII:":
        return text[6:].encode()
    if len(text) > 20 and len(text) % 2 == 0 and set(text) <= _HEX:
        return bytes.fromhex(text)
    return text.encode()


def _is_type_name(text: str) -> bool:
    return text.upper() in _TYPE_ALIASES or text.upper() in _UNSUPPORTED_TYPES


def parse_keys_file(text: str, source: str = "keys file") -> KeyStore:
    """Parse a chrony/ntpd keys file. Raises ConfigError naming `source:line` (never the key)."""
    keys: dict[int, SymmetricKey] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cols = line.split()
        where = f"{source}:{lineno}"
        if len(cols) == 2 and _is_type_name(cols[1]):
            # `1 MD5` is a type with its key missing, not chrony's `ID KEY` form
            raise ConfigError(
                f"{where}: key type {cols[1]!r} has no key", hint="write 'ID TYPE KEY'"
            )
        if len(cols) == 2:
            id_text, type_text, key_text = cols[0], "MD5", cols[1]
        elif len(cols) == 3:
            id_text, type_text, key_text = cols
        else:
            raise ConfigError(f"{where}: expected 'ID TYPE KEY', got {len(cols)} columns")
        if not id_text.isdigit():
            raise ConfigError(f"{where}: key id {id_text!r} is not a number")
        algorithm = _TYPE_ALIASES.get(type_text.upper())
        if algorithm is None:
            why = "unsupported" if type_text.upper() in _UNSUPPORTED_TYPES else "unknown"
            raise ConfigError(
                f"{where}: {why} key type {type_text!r}", hint="use MD5, SHA1 or AES128"
            )
        try:
            key = SymmetricKey(int(id_text), algorithm, parse_key_text(key_text))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if key.key_id in keys:
            raise ConfigError(f"{where}: duplicate key id {key.key_id}")
        keys[key.key_id] = key
    return KeyStore(keys.values())
