"""Small pure helpers the platform drivers share: diffs, secret masking, raw-output access."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence

from orchestrator.drivers.base import Backup
from orchestrator.errors import ParseError
from orchestrator.models import Association, ConfiguredNtp, DesiredNtp, DeviceState, NtpStatus
from orchestrator.parsing import parse_output

MASK = "********"

# Cisco "type 7" obfuscation (reversible): IOS shows NTP keys as `... md5 <hex> 7`, CatOS
# as `set ntp key N trusted md5-encrypted <hex>`.
_TYPE7_XLAT = "dsfd;kfoA,.iyewrkldJKDHSUBsgvca69834ncxv9873254k;fg87"


def decode_type7(text: str) -> str:
    """The clear text of an IOS type-7 string (ValueError when it is not one)."""
    if len(text) < 4 or len(text) % 2 or not text[:2].isdigit():
        raise ValueError("not a type-7 string")
    seed = int(text[:2])
    pairs = (int(text[i : i + 2], 16) for i in range(2, len(text), 2))
    return "".join(
        chr(b ^ ord(_TYPE7_XLAT[(seed + n) % len(_TYPE7_XLAT)])) for n, b in enumerate(pairs)
    )


def unified_diff(host: str, before: Sequence[str], after: Sequence[str]) -> str:
    """A unified diff a person reads in --dry-run ('' when nothing changes)."""
    if list(before) == list(after):
        return ""
    lines = difflib.unified_diff(
        list(before), list(after), f"{host} (running)", f"{host} (after push)", lineterm=""
    )
    return "\n".join(lines) + "\n"


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by the mask (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def key_secrets(desired: DesiredNtp) -> tuple[str, ...]:
    return tuple(k.secret.reveal() for k in desired.keys if k.secret)


def raw_of(backup: Backup) -> dict[str, str]:
    """The command outputs a backup was read from (kept in `extra`)."""
    return dict(backup.extra)


def parse_config(platform: str, command: str, text: str) -> ConfiguredNtp:
    """The configuration as the parser sees it; empty output means nothing configured."""
    if not text.strip():
        return ConfiguredNtp()
    parsed = parse_output(platform, command, text)
    if parsed.config is None:
        raise ParseError(
            f"{platform} {command!r}: expected configuration output",
            platform=platform,
            command=command,
        )
    return parsed.config


def state_from(
    host: str,
    platform: str,
    configured: ConfiguredNtp,
    raw: Mapping[str, str],
    warnings: Sequence[str] = (),
    *,
    associations: Sequence[Association] = (),
    status: NtpStatus | None = None,
) -> DeviceState:
    """A DeviceState from a driver's parsed pieces, the raw outputs kept as evidence.
    Without associations and status it holds only configuration (what push needs)."""
    return DeviceState(
        host=host,
        platform=platform,
        configured=configured,
        associations=tuple(associations),
        status=status,
        raw=tuple(raw.items()),
        warnings=tuple(warnings),
    )


def restore_steps(
    now: Sequence[str],
    wanted: Sequence[str],
    *,
    identity: Callable[[str], str | None],
    ordered: Callable[[str], bool],
    redo: Callable[[str], bool] = lambda _line: True,
) -> list[str]:
    """Commands that turn the configuration lines `now` into exactly `wanted`, adding
    before removing, for CLIs where entering a line replaces the line of the same identity
    in place (`ntp server X ...` on IOS, `set ntp server X` on CatOS).

    `identity(line)` is the command that removes a line (None: nothing can remove it);
    `ordered(line)` says whether the device keeps such lines in the order they were entered
    (server lines); `redo(line)` whether a line can be re-entered at all (CatOS keys: their
    values are never shown). The order is:

    1. lines of `wanted` that are missing (a changed line is replaced in place);
    2. ordered lines that would end in the wrong order are removed and re-entered one at a
       time, before anything extra is removed, so the device never has fewer of them than
       it had before the restore began;
    3. lines that are not wanted, by identity, last.
    """
    wanted_ids = {identity(w) for w in wanted}
    additions = [w for w in wanted if w not in now and redo(w)]
    order = [identity(ln) for ln in now if ordered(ln)]
    for line in additions:
        if ordered(line) and identity(line) not in order:
            order.append(identity(line))
    target = [w for w in wanted if ordered(w)]
    target_ids = [identity(w) for w in target]
    kept = [i for i in order if i in target_ids]
    # Lines that stay put keep their relative order; the others go to the end in the
    # order they are re-entered. Keep the longest prefix of the target already in order.
    stay = len(target_ids)
    while stay and [i for i in kept if i in target_ids[:stay]] != target_ids[:stay]:
        stay -= 1
    rotate: list[str] = []
    for line in target[stay:]:
        removal = identity(line)
        if removal is not None and redo(line):
            rotate += [removal, line]
    removals: list[str] = []
    for line in now:
        removal = identity(line)
        if removal is None or line in wanted or removal in wanted_ids:
            continue
        if removal not in removals:
            removals.append(removal)
    return [*additions, *rotate, *removals]
