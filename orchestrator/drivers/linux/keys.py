"""Keys-file lines for chrony and ntpd (classic and NTPsec)."""

from __future__ import annotations

from orchestrator.errors import DeviceError
from orchestrator.models import NtpKey
from orchestrator.ntp.auth import parse_key_text

_CHRONY_KEY_TYPES = {"md5": "MD5", "sha1": "SHA1", "aes128": "AES128"}
# Classic ntpd (4.2.8p11+) names the RFC 8573 MAC AES128CMAC; NTPsec takes the OpenSSL
# cipher name `aes-128` and adds the mode itself (ntp.keys(5) of each).
_NTPD_KEY_TYPES = {"md5": "MD5", "sha1": "SHA1", "aes128": "AES128CMAC"}
_NTPSEC_KEY_TYPES = {"md5": "md5", "sha1": "sha1", "aes128": "aes-128"}


def key_line(key: NtpKey, daemon: str, *, ntpsec: bool = False) -> str:
    """One keys-file line; the key in hexadecimal wherever the format allows."""
    try:
        material = parse_key_text(key.secret.reveal())
    except ValueError as exc:  # the message never holds the key
        raise DeviceError(f"key {key.key_id}: {exc}") from None
    if daemon == "chrony":
        return f"{key.key_id} {_CHRONY_KEY_TYPES[key.algorithm]} HEX:{material.hex()}"
    # ntpd reads a key of more than 20 characters as hex, else as ASCII: a key of up to
    # 10 octets must be written as its own printable characters.
    text = material.hex() if len(material) > 10 else material.decode("latin-1")
    if len(text) <= 20 and not all(33 <= ord(c) <= 126 and c != "#" for c in text):
        raise DeviceError(f"ntpd cannot express key {key.key_id}: use a longer or printable key")
    types = _NTPSEC_KEY_TYPES if ntpsec else _NTPD_KEY_TYPES
    return f"{key.key_id} {types[key.algorithm]} {text}"
