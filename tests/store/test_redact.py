"""Secrets in device output are masked before anything is stored or rendered."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from compliance.compliance_samples import host, ios_state

from orchestrator.models import DesiredNtp, NtpKey, NtpServerSpec, Secret
from orchestrator.redact import LogRedactor, host_secrets, redact_state, redact_text, remember
from orchestrator.type7 import encode_type7

M = Secret.MASK


def test_key_syntaxes_of_every_platform_are_masked() -> None:
    text = "\n".join(
        [
            # IOS running-config (NetworkLessons capture; type-7 form as IOS stores it)
            "ntp authentication-key 2 md5 NETWORKLESSONS2",
            "ntp authentication-key 1 md5 104D000A0618 7",
            # CatOS: set ntp key <id> trusted|untrusted md5 <key>
            "set ntp key 5 trusted md5 catsecret",
            # chrony.keys (chrony.conf(5) examples)
            "10 tulip",
            "11 MD5 HEX:B028F91EA5C38D06C2E140B26C7F41EC",
            "12 SHA1 ASCII:abcdefghijklmn",
            # ntp.keys (ntp.keys(5))
            "15 M rOxMkUtsrpGd",
            "ntp server 10.0.0.1 key 2",
        ]
    )
    out = redact_text(text)
    for secret in (
        "NETWORKLESSONS2",
        "104D000A0618",
        "catsecret",
        "B028F91EA5C38D06C2E140B26C7F41EC",
        "abcdefghijklmn",
        "rOxMkUtsrpGd",
    ):
        assert secret not in out
    assert f"ntp authentication-key 1 md5 {M} 7" in out
    assert f"11 MD5 {M}" in out
    assert "ntp server 10.0.0.1 key 2" in out  # key ids are not secrets
    assert "10 tulip" in out  # a bare key is only recognised inside a keys file...
    state = dataclasses.replace(ios_state(), raw=(("cat /etc/chrony/chrony.keys", "10 tulip\n"),))
    assert dict(redact_state(state).raw)["cat /etc/chrony/chrony.keys"] == f"10 {M}\n"  # ...here


def test_the_hosts_own_secrets_are_masked_wherever_they_appear() -> None:
    h = dataclasses.replace(
        host(),
        password=Secret("Adm1n-pass"),
        enable_secret=Secret("en"),
        desired=DesiredNtp(
            servers=(NtpServerSpec("10.10.10.1", key_id=1),),
            keys=(NtpKey(1, "sha1", Secret("s3cr3tkey")),),
        ),
    )
    secrets = host_secrets(h)
    assert set(secrets) == {"Adm1n-pass", "en", "s3cr3tkey"}
    state = ios_state()
    state = dataclasses.replace(
        state,
        raw=(*state.raw, ("banner", "login Adm1n-pass; key=s3cr3tkey; enable en; open")),
        warnings=("saw s3cr3tkey in output",),
    )
    clean = redact_state(state, secrets)
    banner = dict(clean.raw)["banner"]
    assert banner == f"login {M}; key={M}; enable {M}; open"  # "open" keeps its "en"
    assert clean.warnings == (f"saw {M} in output",)


def test_a_one_letter_password_is_masked_as_a_token_never_inside_words() -> None:
    # used to read "SSHE********ception", which tells the password
    reason = "connect: SSHException: Error reading SSH protocol banner; password E"
    assert redact_text(reason, ["E"]) == (
        f"connect: SSHException: Error reading SSH protocol banner; password {M}"
    )
    assert redact_text("user=E;", ["E"]) == f"user={M};"
    # a long secret is masked even glued to other text: that reveals nothing
    assert redact_text("xxLongSecret99yy", ["LongSecret99"]) == f"xx{M}yy"


@pytest.mark.parametrize("seed", [0, 2, 9, 15])
def test_every_form_a_device_prints_is_masked(seed: int) -> None:
    secret = "Ky-Jm47r"
    for form in (secret, secret.encode().hex(), secret.encode().hex().upper()):
        assert redact_text(f"saw {form} here", [secret]) == f"saw {M} here", form
    # IOS type 7 with any seed, also outside the key syntax
    seven = encode_type7(secret, seed)
    assert redact_text(f"username x password 7 {seven}", []) == f"username x password 7 {M}"
    assert redact_text(f"decoded from {seven}.", [secret]) == f"decoded from {M}."
    # an NTP key given in HEX: form is also masked as the text it encodes
    hex_key = "HEX:" + b"Abc12345".hex()
    assert redact_text("w32tm says Abc12345", [hex_key]) == f"w32tm says {M}"


def test_netmikos_debug_lines_are_redacted_by_the_log_filter() -> None:
    remember("En-Qv52w")
    record = logging.LogRecord(
        "netmiko", logging.DEBUG, __file__, 1, "write_channel: %r", (
            b"configure terminal\nntp authentication-key 5 md5 NoIdeaWhat 7\nEn-Qv52w\n",
        ), None,
    )  # fmt: skip
    assert LogRedactor().filter(record)
    shown = record.getMessage()
    assert "NoIdeaWhat" not in shown and "En-Qv52w" not in shown
    assert f"ntp authentication-key 5 md5 {M}" in shown
