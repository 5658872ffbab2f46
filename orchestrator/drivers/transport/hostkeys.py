"""Host keys: which key a device may present (the first of the transport's questions).

Keys are checked against orch's known_hosts (paths.known_hosts()) and ~/.ssh/known_hosts.
An unknown key is refused unless `accept_new`, which records it in orch's file; a
changed key is always refused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path

import paramiko

from orchestrator import paths


class KeyIndex:
    """One known_hosts file, indexed by host name (paramiko's HostKeys scans every entry
    per lookup, which makes a thousand-device push quadratic)."""

    def __init__(self) -> None:
        self.plain: dict[str, dict[str, paramiko.PKey]] = {}
        self.hashed: list[tuple[str, paramiko.PKey]] = []  # `|1|salt|hash` names

    @classmethod
    def read(cls, path: Path) -> KeyIndex:
        index = cls()
        with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                index._add_line(line)
        return index

    def _add_line(self, line: str) -> None:
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        except (paramiko.SSHException, ValueError):
            return  # an unknown key type or a damaged line: OpenSSH skips it too
        if entry is None or entry.key is None:
            return
        for name in entry.hostnames:
            self.add(name, entry.key)

    def add(self, name: str, key: paramiko.PKey) -> None:
        if name.startswith("|1|"):
            self.hashed.append((name, key))
        else:
            self.plain.setdefault(name, {})[key.get_name()] = key

    def lookup(self, name: str, key_type: str) -> paramiko.PKey | None:
        key = self.plain.get(name, {}).get(key_type)
        if key is not None:
            return key
        for hashed, candidate in self.hashed:
            if (
                candidate.get_name() == key_type
                and paramiko.HostKeys.hash_host(name, hashed) == hashed
            ):
                return candidate
        return None


class KnownHosts:
    """known_hosts files parsed once per change, shared by every session of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], KeyIndex]] = {}

    def _load(self, path: Path) -> KeyIndex | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        index = KeyIndex.read(path)
        self._cache[path] = (stamp, index)
        return index

    def check(
        self, name: str, key: paramiko.PKey, files: Sequence[Path], *, add_to: Path | None
    ) -> str | None:
        """None when `key` is known for `name` (or was just added); else why it is refused."""
        with self._lock:
            for path in files:
                index = self._load(path)
                known = index.lookup(name, key.get_name()) if index is not None else None
                if known is None:
                    continue
                if known == key:
                    return None
                return (
                    f"host key CHANGED (known in {path}, offered {key.get_name()} "
                    f"{key.fingerprint}); remove the stale entry only if the change is expected"
                )
            if add_to is None:
                return (
                    f"unknown host key {key.get_name()} {key.fingerprint}; "
                    "run with --accept-new-host-keys on first contact"
                )
            add_to.parent.mkdir(parents=True, exist_ok=True)
            had = self._load(add_to)
            with add_to.open("a", encoding="ascii") as f:
                f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
            # Keep the index current instead of re-reading a growing file per host.
            index = had if had is not None else KeyIndex()
            index.add(name, key)
            st = add_to.stat()
            self._cache[add_to] = ((st.st_mtime_ns, st.st_size), index)
            return None


KNOWN_HOSTS = KnownHosts()


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called for every connection (the client itself loads no keys): checks our cache."""

    def __init__(self, files: Sequence[Path], add_to: Path | None) -> None:
        self.files = tuple(files)
        self.add_to = add_to
        self.refused: str | None = None

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        reason = KNOWN_HOSTS.check(hostname, key, self.files, add_to=self.add_to)
        if reason is not None:
            self.refused = reason
            raise paramiko.SSHException(reason)


def host_key_policy(known_hosts: Path | None, accept_new: bool) -> HostKeyPolicy:
    own = known_hosts if known_hosts is not None else paths.known_hosts()
    files = [own] if known_hosts is not None else [own, Path.home() / ".ssh" / "known_hosts"]
    return HostKeyPolicy(files, own if accept_new else None)
