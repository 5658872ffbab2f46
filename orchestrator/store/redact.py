"""Keep secrets out of stored evidence and reports.

Device outputs can carry key material (`ntp authentication-key 1 md5 <key>`, a chrony
keys file, CatOS `set ntp key`). Everything that leaves the collection step passes
through here: known secret values of the host are masked wherever they appear, and
the key fields of the NTP key syntaxes are masked even when the value is not known.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from orchestrator.models import DeviceState, Host, Secret

MASK = Secret.MASK

# (pattern, group holding the secret). Each names the syntax it covers.
_KEY_SYNTAXES: tuple[re.Pattern[str], ...] = (
    # IOS: ntp authentication-key <id> <md5|sha1|cmac-aes-128> <key> [<encryption>]
    re.compile(r"(?im)^(\s*ntp\s+authentication-key\s+\d+\s+\S+\s+)(\S+)"),
    # CatOS: set ntp key <id> trusted|untrusted md5 <key>
    re.compile(r"(?im)^(\s*set\s+ntp\s+key\s+\d+\s+\S+\s+\S+\s+)(\S+)"),
    # chrony keys file: <id> [<type>] HEX:<key> | ASCII:<key> | <key>
    re.compile(r"(?im)^(\s*\d+\s+(?:[A-Z][A-Z0-9-]*\s+)?)((?:HEX|ASCII):\S+)"),
    # ntpd / NTPsec keys file: <id> <type M|SHA1|AES128CMAC...> <key>
    re.compile(r"(?m)^(\s*\d+\s+(?:M|MD5|SHA1?|AES128CMAC|AES-128-CMAC)\s+)(\S+)"),
)

# chrony.keys also allows a bare key: "<id> <key>" (chrony.conf(5): "10 tulip"). Only
# applied to outputs of commands that read a keys file, where every line is a key.
_BARE_KEY = re.compile(r"(?m)^([ \t]*\d+[ \t]+)([^\s:]+)[ \t]*$")

# Values shorter than this are masked only as whole words, so a one-letter password
# does not shred every output.
_MIN_SUBSTRING_SECRET = 4


def host_secrets(host: Host) -> tuple[str, ...]:
    """Every secret value a host's configuration holds."""
    values = [host.password, host.enable_secret, *(k.secret for k in host.desired.keys)]
    return tuple(v.reveal() for v in values if v is not None and v.reveal())


def redact_text(text: str, secrets: Iterable[str] = (), *, keys_file: bool = False) -> str:
    """`text` with key material and the given secret values masked. `keys_file`: the
    text is a keys file (e.g. `cat /etc/chrony/chrony.keys`), where bare keys occur."""
    for pattern in (*_KEY_SYNTAXES, _BARE_KEY) if keys_file else _KEY_SYNTAXES:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= _MIN_SUBSTRING_SECRET:
            text = text.replace(value, MASK)
        else:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASK, text)
    return text


def redact_state(state: DeviceState, secrets: Iterable[str] = ()) -> DeviceState:
    """The same state with its raw evidence and warnings redacted."""
    values = tuple(secrets)
    return dataclasses.replace(
        state,
        raw=tuple(
            (cmd, redact_text(out, values, keys_file="key" in cmd.lower()))
            for cmd, out in state.raw
        ),
        warnings=tuple(redact_text(w, values) for w in state.warnings),
    )
