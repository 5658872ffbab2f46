"""Keep secrets out of everything orch shows, stores or logs: one set of rules.

Two kinds of masking, both applied by `redact_text`:

1. Key syntaxes: the key field of every NTP key line a device prints (IOS, CatOS,
   chrony and ntpd keys files) and of IOS `password 7 ...`-style lines, even when the
   value is not known to us.
2. Known secret values (the host's password, enable secret and NTP keys) in every form a
   device prints them: clear, IOS type 7 (any seed), hexadecimal (either case), and
   for an NTP key given as HEX: its octets as text. Each is masked as a whole token: an
   occurrence inside a longer word is left alone unless the value is long enough that
   the word cannot be anything else, so a one-letter password never turns
   "SSHException" into "SSHE********ception" (which would reveal it).

`LogRedactor` applies the same rules to every log record (netmiko logs each write to
the channel at DEBUG, config lines and passwords included); secrets reach it through
`remember()`, which the inventory calls for each secret it resolves.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from functools import lru_cache

from orchestrator.models import DesiredNtp, DeviceState, Host, Secret
from orchestrator.ntp.auth import parse_key_text
from orchestrator.type7 import SEEDS, encode_type7

MASK = Secret.MASK

# Each pattern: group 1 is kept, the next token (the key) is masked. "Line start" also
# accepts a `\n` written out by repr(), as netmiko's debug log shows what it sends.
_START = r"(?:^|(?<=\\n)|(?<=\\r))"
_WORD = r"(?:(?<![\w-])|(?<=\\n)|(?<=\\r)|(?<=\\t))"  # a word starts (also after `\n`)
# the key: up to a blank or the end (a closing quote stays), or a written-out `\n`
_KEY = r"(\S+?)(?=\\[nrt]|['\"]?(?:\s|$))"
_KEY_SYNTAXES: tuple[re.Pattern[str], ...] = (
    # IOS: ntp authentication-key <id> <md5|sha1|cmac-aes-128> <key> [<encryption>]
    re.compile(rf"(?im)({_WORD}ntp\s+authentication-key\s+\d+\s+\S+\s+){_KEY}"),
    # CatOS: set ntp key <id> trusted|untrusted md5 <key>
    re.compile(rf"(?im)({_WORD}set\s+ntp\s+key\s+\d+\s+\S+\s+\S+\s+){_KEY}"),
    # IOS: enable password 7 <x>, username u password 0 <x>, key-string 7 <x>, secret 5 <x>
    re.compile(rf"(?im)({_WORD}(?:password|secret|key-string)\s+\d\s+){_KEY}"),
    # chrony keys file: <id> [<type>] HEX:<key> | ASCII:<key> | <key>
    re.compile(rf"(?im){_START}(\s*\d+\s+(?:[A-Z][A-Z0-9-]*\s+)?)((?:HEX|ASCII):{_KEY[1:]}"),
    # ntpd / NTPsec keys file: <id> <type M|SHA1|AES128CMAC...> <key>
    re.compile(rf"(?m){_START}(\s*\d+\s+(?:M|MD5|SHA1?|AES128CMAC|AES-128-CMAC)\s+)(\S+)"),
)

# chrony.keys also allows a bare key: "<id> <key>" (chrony.conf(5): "10 tulip"). Only
# applied to outputs of commands that read a keys file, where every line is a key.
_BARE_KEY = re.compile(r"(?m)^([ \t]*\d+[ \t]+)([^\s:]+)[ \t]*$")

# A value at least this long is masked even inside a longer word: nothing else in an
# output has it by chance, and masking it there reveals nothing.
_SUBSTRING_MIN = 8
# A shorter value is a token of its own only where letters and digits end (or a `\n`
# written out by repr() precedes it).
_BEFORE = r"(?:(?<![A-Za-z0-9])|(?<=\\n)|(?<=\\r)|(?<=\\t))"
_AFTER = r"(?![A-Za-z0-9])"

_known: set[str] = set()


def forms(value: str) -> set[str]:
    """Every text a device may print for the secret `value`."""
    if not value:
        return set()
    found = {value}
    octets = value.encode("utf-8", "surrogatepass")
    found |= {octets.hex(), octets.hex().upper()}
    try:
        material = parse_key_text(value)  # HEX:/ASCII: NTP key syntax
    except ValueError:
        material = octets
    if material != octets:
        found |= {material.hex(), material.hex().upper()}
        text = material.decode("latin-1")
        if text.isprintable():
            found.add(text)
    for clear in {value, material.decode("latin-1")}:
        if clear.isascii() and clear.isprintable():
            found |= {encode_type7(clear, seed) for seed in SEEDS}
    return {f for f in found if f}


@lru_cache(maxsize=256)
def _secret_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    texts = sorted({f for s in secrets for f in forms(s)}, key=len, reverse=True)
    if not texts:
        return None
    parts = [
        re.escape(t) if len(t) >= _SUBSTRING_MIN else f"{_BEFORE}{re.escape(t)}{_AFTER}"
        for t in texts
    ]
    return re.compile("|".join(parts))


def redact_text(text: str, secrets: Iterable[str] = (), *, keys_file: bool = False) -> str:
    """`text` with key material and the given secret values masked. `keys_file`: the
    text is a keys file (e.g. `cat /etc/chrony/chrony.keys`), where bare keys occur."""
    for pattern in (*_KEY_SYNTAXES, _BARE_KEY) if keys_file else _KEY_SYNTAXES:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    found = _secret_pattern(frozenset(s for s in secrets if s))
    return text if found is None else found.sub(MASK, text)


def host_secrets(host: Host) -> tuple[str, ...]:
    """Every secret value a host's configuration holds."""
    values = [host.password, host.enable_secret, *(k.secret for k in host.desired.keys)]
    return tuple(v.reveal() for v in values if v is not None and v.reveal())


def key_secrets(desired: DesiredNtp) -> tuple[str, ...]:
    """The NTP key values of a desired configuration."""
    return tuple(k.secret.reveal() for k in desired.keys if k.secret.reveal())


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


def remember(*values: str) -> None:
    """Secrets the log redactor masks in every record from now on (the inventory's)."""
    _known.update(v for v in values if v)


class LogRedactor(logging.Filter):
    """A handler filter: each record's message (and traceback) redacted, whichever
    library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact_text(message, tuple(_known))
        record.args = None
        return True
