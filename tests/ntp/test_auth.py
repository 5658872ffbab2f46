"""Keys files (chrony/ntpd format) and MACs."""

from __future__ import annotations

import pytest

from orchestrator.errors import ConfigError
from orchestrator.models import NtpKey, Secret
from orchestrator.ntp.auth import SymmetricKey, parse_key_text, parse_keys_file

KEYS_FILE = """\
# chrony style
1 MD5 HEX:0102030405060708090a0b0c0d0e0f10
2 SHA1 ASCII:sha1 words
3 AES128 HEX:2b7e151628aed2a6abf7158809cf4f3c
# ntpd style
4 M plainkey          # trailing comment
5 SHA1 0123456789abcdef0123456789abcdef01234567
6 justmd5
"""


def test_parse_keys_file_all_forms() -> None:
    keys = parse_keys_file(KEYS_FILE.replace("sha1 words", "sha1words"), "keys")
    assert sorted(keys) == [1, 2, 3, 4, 5, 6]
    assert keys[1].algorithm == "md5" and keys[1].material == bytes(range(1, 17))
    assert keys[2].algorithm == "sha1" and keys[2].material == b"sha1words"
    assert keys[3].algorithm == "aes128" and len(keys[3].material) == 16
    assert keys[4].material == b"plainkey"
    assert keys[5].material == bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
    assert keys[6].algorithm == "md5" and keys[6].material == b"justmd5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 MD5 a b", "keys:1: expected 'ID TYPE KEY'"),
        ("x MD5 abc", "keys:1: key id 'x' is not a number"),
        ("\n1 SHA256 HEX:00", "keys:2: unsupported key type 'SHA256'"),
        ("1 FOO abc", "keys:1: unknown key type 'FOO'"),
        ("1 AES128 HEX:0011", "keys:1: an AES128 key must be exactly 16 octets"),
        ("1 MD5 HEX:0g", "keys:1: HEX: key is not"),
        ("1 MD5 a\n1 MD5 b", "keys:2: duplicate key id 1"),
        ("0 MD5 a", "keys:1: key id must be in"),
        # a type and no key is not chrony's two-column `ID KEY` form
        ("1 MD5", "keys:1: key type 'MD5' has no key"),
        ("# c\n1 SHA1", "keys:2: key type 'SHA1' has no key"),
        ("1 AES128", "keys:1: key type 'AES128' has no key"),
        ("1 m", "keys:1: key type 'm' has no key"),
        ("1 SHA256", "keys:1: key type 'SHA256' has no key"),
    ],
)
def test_bad_keys_files_name_the_line_never_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_keys_file(text, "keys")
    assert str(err.value).startswith(message)
    assert "0011" not in str(err.value) and "HEX:0g" not in str(err.value)


def test_key_material_never_printed() -> None:
    key = SymmetricKey(7, "md5", b"topsecret")
    assert "topsecret" not in repr(key) and "topsecret" not in str(key)
    assert "topsecret" not in repr(parse_keys_file("7 MD5 topsecret"))


def test_aes_cmac_rfc4493_vector() -> None:
    # RFC 4493 §4, Example 2 (16-octet message)
    key = SymmetricKey(1, "aes128", bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    msg = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert key.digest(msg) == bytes.fromhex("070a16b46b4d4144f79bdd9dd04a287c")


def test_legacy_md5_is_hash_of_key_then_packet() -> None:
    # RFC 1321 test suite: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72; key "a" + data "bc"
    key = SymmetricKey(1, "md5", b"a")
    assert key.digest(b"bc") == bytes.fromhex("900150983cd24fb0d6963f7d28e17f72")
    # FIPS 180 example: SHA1("abc") = a9993e36...
    assert SymmetricKey(1, "sha1", b"ab").digest(b"c").hex().startswith("a9993e364706816a")


def test_sign_and_verify() -> None:
    key = SymmetricKey(0x01020304, "sha1", b"k")
    signed = key.sign(b"x" * 48)
    assert signed[48:52] == bytes([1, 2, 3, 4]) and len(signed) == 48 + 4 + 20
    assert key.verify(signed[:48], signed[52:])
    assert not key.verify(signed[:48], signed[52:-1] + b"\x00")
    assert not key.verify(signed[:48], signed[52:-1])  # wrong length


def test_from_inventory_model() -> None:
    k = SymmetricKey.from_model(NtpKey(5, "aes128", Secret("HEX:" + "ab" * 16)))
    assert k.material == b"\xab" * 16
    assert parse_key_text("ASCII:HEX:x") == b"HEX:x"
