"""Cisco "type 7": the reversible obfuscation IOS prints passwords and NTP keys in
(`ntp authentication-key 1 md5 104D000A0618 7`). Reversible means it is the clear text
for anyone who sees it, which is why redaction masks it too."""

from __future__ import annotations

_XLAT = "dsfd;kfoA,.iyewrkldJKDHSUBsgvca69834ncxv9873254k;fg87"
SEEDS = range(16)  # IOS picks the two-digit seed 00..15


def encode_type7(plain: str, seed: int = 2) -> str:
    return f"{seed:02d}" + "".join(
        f"{ord(c) ^ ord(_XLAT[(seed + i) % len(_XLAT)]):02X}" for i, c in enumerate(plain)
    )


def decode_type7(text: str) -> str:
    """The clear text of an IOS type-7 string (ValueError when it is not one)."""
    if len(text) < 4 or len(text) % 2 or not text[:2].isdigit():
        raise ValueError("not a type-7 string")
    seed = int(text[:2])
    pairs = (int(text[i : i + 2], 16) for i in range(2, len(text), 2))
    return "".join(chr(b ^ ord(_XLAT[(seed + n) % len(_XLAT)])) for n, b in enumerate(pairs))
