"""NTS cookies (RFC 8915 §6) and the server's rotating master keys.

Pure: time and random bytes are passed in. A cookie is the server's note to itself
holding one client's C2S and S2C keys, so the server keeps no per-client state:

    cookie = key id (4) || nonce (16) || AES-SIV-CMAC-256(master key, AD = [key id, nonce],
                                                          C2S || S2C)      # 4 + 16 + 16 + 64

(the format RFC 8915 §6 suggests and chrony uses). The AEAD of the session is implied by
the key length: only AEAD_AES_SIV_CMAC_256 (id 15, 32-octet keys) is offered.

Master keys rotate every `rotate_s` seconds (chrony's `ntsrotate`, default one week).
The ring always holds the key cookies are issued with, the *next* key (generated one
rotation early, so every worker process already knows it when the NTS-KE server starts
issuing cookies with it) and `keep` older keys, so a cookie stays valid for at least
`keep` rotation intervals after it was issued.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

AEAD_AES_SIV_CMAC_256 = 15
KEY_LEN = 32  # AEAD_AES_SIV_CMAC_256: two AES-128 keys
TAG_LEN = 16
NONCE_LEN = 16
KEY_ID_LEN = 4
COOKIE_LEN = KEY_ID_LEN + NONCE_LEN + TAG_LEN + 2 * KEY_LEN  # 100 octets
DEFAULT_ROTATE_S = 7 * 86400.0
DEFAULT_KEEP = 2

RandomBytes = Callable[[int], bytes]


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One server master key. The key itself never shows in a repr."""

    key_id: int
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The master keys, oldest first: `keys[-2]` issues cookies, `keys[-1]` is the next one.

    `rotated_at` is the Unix time the issuing key took over.
    """

    keys: tuple[MasterKey, ...]
    rotated_at: float
    rotate_s: float = DEFAULT_ROTATE_S
    keep: int = DEFAULT_KEEP

    @classmethod
    def new(
        cls,
        now: float,
        random_bytes: RandomBytes,
        rotate_s: float = DEFAULT_ROTATE_S,
        keep: int = DEFAULT_KEEP,
    ) -> KeyRing:
        if rotate_s <= 0 or keep < 0:
            raise ValueError("rotate_s must be > 0 and keep >= 0")
        first = _new_key(random_bytes, ())
        return cls((first, _new_key(random_bytes, (first,))), now, rotate_s, keep)

    @property
    def issuing(self) -> MasterKey:
        return self.keys[-2]

    def due(self, now: float) -> bool:
        """Time to rotate (also after the clock stepped back by more than an interval)."""
        age = now - self.rotated_at
        return age >= self.rotate_s or age < -self.rotate_s

    def rotated(self, now: float, random_bytes: RandomBytes) -> KeyRing:
        """The next key issues from now on; a new next key; the oldest beyond `keep` go."""
        keys = (*self.keys, _new_key(random_bytes, self.keys))
        return KeyRing(keys[-(self.keep + 2) :], now, self.rotate_s, self.keep)

    def to_dict(self) -> dict[str, object]:
        """Plain data for the keys file (key material in hex: keep that file private)."""
        return {
            "rotated_at": self.rotated_at,
            "keys": [{"id": k.key_id, "key": k.key.hex()} for k in self.keys],
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, object],
        rotate_s: float = DEFAULT_ROTATE_S,
        keep: int = DEFAULT_KEEP,
    ) -> KeyRing:
        """Read `to_dict()` output back; ValueError if it is not one."""
        try:
            rotated_at = float(data["rotated_at"])  # type: ignore[arg-type]
            raw = data["keys"]
            if not isinstance(raw, list):
                raise TypeError
            keys = tuple(MasterKey(int(k["id"]), bytes.fromhex(str(k["key"]))) for k in raw)
        except (KeyError, TypeError, ValueError):
            raise ValueError("not an NTS master key file") from None
        if len(keys) < 2 or any(len(k.key) != KEY_LEN or not 0 <= k.key_id < 1 << 32 for k in keys):
            raise ValueError("not an NTS master key file")
        if len({k.key_id for k in keys}) != len(keys):
            raise ValueError("duplicate key ids in the NTS master key file")
        return cls(keys[-(keep + 2) :], rotated_at, rotate_s, keep)


def _new_key(random_bytes: RandomBytes, existing: tuple[MasterKey, ...]) -> MasterKey:
    used = {k.key_id for k in existing}
    while True:
        key_id = int.from_bytes(random_bytes(KEY_ID_LEN), "big")
        if key_id not in used:
            return MasterKey(key_id, random_bytes(KEY_LEN))


class CookieJar:
    """Makes and opens cookies with the keys of a `KeyRing` (AES-SIV instances cached)."""

    def __init__(self, ring: KeyRing) -> None:
        self._siv: dict[int, AESSIV] = {}
        self.set_ring(ring)

    def set_ring(self, ring: KeyRing) -> None:
        old = self._siv
        self.ring = ring
        self._siv = {k.key_id: old.get(k.key_id) or AESSIV(k.key) for k in ring.keys}
        self._issuing = ring.issuing.key_id
        self._issuing_id = self._issuing.to_bytes(KEY_ID_LEN, "big")

    def make(self, c2s: bytes, s2c: bytes, nonce: bytes) -> bytes:
        """A cookie for the session keys, under the issuing key (`nonce`: 16 random octets)."""
        if len(c2s) != KEY_LEN or len(s2c) != KEY_LEN or len(nonce) != NONCE_LEN:
            raise ValueError("cookie: bad key or nonce length")
        head = self._issuing_id
        return head + nonce + self._siv[self._issuing].encrypt(c2s + s2c, [head, nonce])

    def open(self, cookie: bytes) -> tuple[bytes, bytes] | None:
        """(C2S, S2C) from one of our cookies; None if it is not one (any more)."""
        if len(cookie) != COOKIE_LEN:
            return None
        siv = self._siv.get(int.from_bytes(cookie[:KEY_ID_LEN], "big"))
        if siv is None:
            return None
        head, nonce = cookie[:KEY_ID_LEN], cookie[KEY_ID_LEN : KEY_ID_LEN + NONCE_LEN]
        try:
            keys = siv.decrypt(cookie[KEY_ID_LEN + NONCE_LEN :], [head, nonce])
        except InvalidTag:
            return None
        return keys[:KEY_LEN], keys[KEY_LEN:]
