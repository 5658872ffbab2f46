"""A root-only environment file: how a scheduled job gets the secrets the inventory
references (`${env:NAME}`), since cron and systemd start jobs with an empty environment.

The format is the subset of systemd's EnvironmentFile= syntax that also reads the same
in a shell: `NAME=value`, `NAME='value'`, `NAME="value"` (with \\" and \\\\), `#` comments.
The file must be owned by the user reading it and readable by nobody else (mode 0600).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.errors import ConfigError

_LINE = re.compile(r"(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)")


def check_private(path: Path) -> None:
    """ConfigError unless `path` is a regular file of ours that only we can read."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the environment file: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: the environment file is not a regular file")
    if st.st_uid != os.geteuid():
        raise ConfigError(
            f"{path}: the environment file belongs to uid {st.st_uid}, not to this user",
            hint=f"chown it to uid {os.geteuid()}",
        )
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path}: the environment file holds secrets and is readable by others "
            f"(mode {stat.S_IMODE(st.st_mode):04o})",
            hint=f"chmod 600 {path}",
        )


def read_env_file(path: Path) -> dict[str, str]:
    """NAME -> value from a private environment file; ConfigError names file:line (never
    a value: the values are secrets)."""
    check_private(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the environment file: {why}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected NAME=value", hint="see `#` comments")
        value = _unquote(match["value"].strip())
        if value is None:
            raise ConfigError(f"{path}:{number}: unbalanced quotes in the value of {match['name']}")
        values[match["name"]] = value
    return values


def _unquote(value: str) -> str | None:
    if value[:1] == "'":
        return value[1:-1] if len(value) >= 2 and value.endswith("'") else None
    if value[:1] == '"':
        if len(value) < 2 or not value.endswith('"'):
            return None
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def quote(value: str) -> str:
    """`value` as written into the file (read back identically by us, systemd and sh)."""
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    if "\n" in value:
        raise ConfigError("a value with a newline cannot go into an environment file")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def create_env_file(
    path: Path, names: Iterable[str], environ: Mapping[str, str], header: str
) -> tuple[list[str], list[str]]:
    """Create `path` (mode 0600, never over an existing file) with the current value of each
    of `names` that `environ` sets, and a commented placeholder for the others.
    Returns (written names, missing names)."""
    written: list[str] = []
    missing: list[str] = []
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for name in sorted(set(names)):
        if environ.get(name):
            lines.append(f"{name}={quote(environ[name])}")
            written.append(name)
        else:
            lines.append(f"#{name}=")
            missing.append(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return written, missing
