"""Small pure helpers the platform drivers share: diffs, raw-output access."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

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
