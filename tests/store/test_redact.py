"""Secrets in device output are masked before anything is stored or rendered."""

from __future__ import annotations

import dataclasses

from compliance.compliance_samples import host, ios_state

from orchestrator.models import DesiredNtp, NtpKey, NtpServerSpec, Secret
from orchestrator.store import host_secrets, redact_state, redact_text

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
