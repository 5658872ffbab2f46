"""The files orch writes on a Linux host, and the shell that reads and writes them.

Files travel base64-encoded, so no shell, terminal or encoding can change a byte. Every
command runs under POSIX sh (whatever the login shell) and, when the login user is not
root, through sudo: `sudo -n` without a password, or `sudo -S` with the sudo password
first on stdin (sudo reads it byte by byte, the command gets the rest).
"""

from __future__ import annotations

import base64
import difflib
import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator import redact
from orchestrator.errors import DeviceError
from orchestrator.models import DesiredNtp

BEGIN = "# BEGIN orch managed NTP settings (edits between these lines are overwritten)"
END = "# END orch managed NTP settings"
OWNED_HEADER = "# Managed by orch: the NTP servers of this host. Edits here are overwritten."


@dataclass(frozen=True)
class ManagedFile:
    """A file orch writes: all of it (`whole`), or a marked block inside it."""

    path: str
    whole: bool
    reload: tuple[str, ...]  # commands that make the daemon read this file again
    new_mode: str = "0644"  # for a file orch creates; an existing file keeps its mode

    def content(self, old: str | None, body: Sequence[str]) -> str:
        """The file's new text with `body` as orch's lines."""
        if self.whole:
            return "\n".join([OWNED_HEADER, *body]) + "\n"
        return replace_block(old or "", body)


def replace_block(text: str, body: Sequence[str]) -> str:
    """`text` with orch's marked block set to `body` (appended if absent, removed if empty)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip("\r\n") == BEGIN), None)
    stop = None
    if start is not None:
        stop = next((i for i in range(start, len(lines)) if lines[i].rstrip("\r\n") == END), None)
    block = [f"{BEGIN}\n", *(f"{ln}\n" for ln in body), f"{END}\n"] if body else []
    if start is not None and stop is not None:
        return "".join(lines[:start] + block + lines[stop + 1 :])
    if not block:
        return text
    prefix = text if not text or text.endswith("\n") else text + "\n"
    return prefix + "".join(block)


def mask(text: str, desired: DesiredNtp) -> str:
    """`text` with every key syntax and every form of every desired key masked."""
    return redact.redact_text(text, redact.key_secrets(desired))


def file_diff(host: str, path: str, old: str | None, new: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(),
        new.splitlines(),
        f"{host}:{path}" + ("" if old is not None else " (new file)"),
        f"{host}:{path} (after push)",
        lineterm="",
    )
    text = "\n".join(lines)
    return text + "\n" if text else ""


# ---------------------------------------------------------------------- shell commands


def read_file_command(path: str) -> str:
    """Prints `absent`, or `present` and the file in base64 on one line."""
    p = shlex.quote(path)
    return f"if [ -e {p} ]; then echo present; base64 -w0 {p}; echo; else echo absent; fi"


def write_file_command(path: str, new_mode: str = "0644") -> str:
    """Replace `path` atomically with base64 from stdin, keeping mode and owner if it existed."""
    if not re.fullmatch(r"0?[0-7]{3}", new_mode):
        raise ValueError(f"not an octal file mode: {new_mode!r}")
    p = shlex.quote(path)
    d = shlex.quote(posixpath.dirname(path) or "/")
    return (
        f'set -e; mkdir -p {d}; t=$(mktemp {d}/.orch.XXXXXX); base64 -d > "$t"; '
        f'if [ -e {p} ]; then chmod --reference={p} "$t"; chown --reference={p} "$t"; '
        f'else chmod {new_mode} "$t"; fi; mv -f "$t" {p}'
    )


def delete_file_command(path: str) -> str:
    return f"rm -f {shlex.quote(path)}"


def decode_file(output: str) -> str | None:
    """The answer to read_file_command -> the file's text (None when absent)."""
    lines = output.splitlines()
    if not lines or lines[0].strip() == "absent":
        return None
    if lines[0].strip() != "present":
        raise DeviceError(f"unexpected answer when reading a file: {output.strip()[:80]!r}")
    data = base64.b64decode("".join(lines[1:2]).strip() or b"")
    return data.decode("utf-8", "surrogateescape")


def encode_file(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode("ascii") + "\n"


# How commands become root: not at all (root logs in), `sudo -n`, or `sudo -S` with the
# sudo password on stdin.
AS_ROOT, SUDO, SUDO_PASSWORD = "no", "yes", "password"
PRIVILEGES = (AS_ROOT, SUDO, SUDO_PASSWORD)


def wrap(script: str, privilege: str) -> str:
    """Run `script` under POSIX sh whatever the login shell, as root."""
    command = "sh -c " + shlex.quote(script)
    if privilege == SUDO:
        return "sudo -n " + command
    if privilege == SUDO_PASSWORD:
        return "sudo -k -S -p '' " + command
    return command


def sudo_stdin(privilege: str, password: str | None, stdin: str | None) -> str | None:
    """What a wrapped command gets on stdin: the sudo password first when sudo asks one."""
    if privilege != SUDO_PASSWORD:
        return stdin
    if not password:
        raise DeviceError("sudo asks for a password and the host has none in the inventory")
    return password + "\n" + (stdin or "")
