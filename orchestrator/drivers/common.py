"""Small pure helpers the platform drivers share: diffs, raw-output access."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence

from orchestrator.drivers.base import Backup
from orchestrator.errors import ParseError
from orchestrator.models import Association, ConfiguredNtp, DeviceState, NtpStatus
from orchestrator.parsing import parse_output


def unified_diff(host: str, before: Sequence[str], after: Sequence[str]) -> str:
    """A unified diff a person reads in --dry-run ('' when nothing changes)."""
    if list(before) == list(after):
        return ""
    lines = difflib.unified_diff(
        list(before), list(after), f"{host} (running)", f"{host} (after push)", lineterm=""
    )
    return "\n".join(lines) + "\n"


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
