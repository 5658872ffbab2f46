"""SSH sessions to devices: the only module that imports netmiko, napalm or paramiko.

    open_session(host) -> Session

* Linux and Windows: a paramiko *exec* session (one channel per command, with exit status).
* Cisco IOS: netmiko `cisco_ios`, in enable mode.
* Cisco CatOS: a small netmiko driver class (netmiko has none): prompt `host> (enable)`,
  `set length 0`, no configuration mode (`set` commands are exec-level).
* eos, junos, nxos, iosxr: a napalm driver behind a CandidateSession.

Host keys are checked against orch's known_hosts (paths.known_hosts()) and
~/.ssh/known_hosts. An unknown key is refused unless `accept_new_host_keys`, which
records it in orch's file; a changed key is always refused. Every connection problem
becomes one ConnectionFailure line naming the device, address:port and what happened;
secrets never reach a message.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import paramiko
from netmiko.cisco.cisco_ios import CiscoIosSSH
from netmiko.cisco_base_connection import CiscoBaseConnection
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
)

from orchestrator import paths, redact
from orchestrator.drivers.base import CommandResult
from orchestrator.errors import CommandRejected, ConnectionFailure, InputError
from orchestrator.models import NAPALM_PLATFORMS, Host

EXEC_PLATFORMS: tuple[str, ...] = ("linux", "windows")
IOS_ERROR_RE = r"^% ?(?:Invalid input|Incomplete command|Ambiguous command|Unknown command).*$"
# CatOS answers a bad command with `Unknown command "x".  Use 'help' for more info.` and a
# bad argument with a `Usage:` block (CatOS 8.x command reference).
CATOS_ERROR_RE = re.compile(r"^(?:Unknown command|Usage: |Invalid |Bad )", re.M)


# --------------------------------------------------------------------------- host keys


class _KeyIndex:
    """One known_hosts file, indexed by host name (paramiko's HostKeys scans every entry
    per lookup, which makes a thousand-device push quadratic)."""

    def __init__(self) -> None:
        self.plain: dict[str, dict[str, paramiko.PKey]] = {}
        self.hashed: list[tuple[str, paramiko.PKey]] = []  # `|1|salt|hash` names

    @classmethod
    def read(cls, path: Path) -> _KeyIndex:
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


class _KnownHosts:
    """known_hosts files parsed once per change, shared by every session of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], _KeyIndex]] = {}

    def _load(self, path: Path) -> _KeyIndex | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        index = _KeyIndex.read(path)
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
            index = had if had is not None else _KeyIndex()
            index.add(name, key)
            st = add_to.stat()
            self._cache[add_to] = ((st.st_mtime_ns, st.st_size), index)
            return None


_KNOWN_HOSTS = _KnownHosts()


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called for every connection (the client itself loads no keys): checks our cache."""

    def __init__(self, files: Sequence[Path], add_to: Path | None) -> None:
        self.files = tuple(files)
        self.add_to = add_to
        self.refused: str | None = None

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        reason = _KNOWN_HOSTS.check(hostname, key, self.files, add_to=self.add_to)
        if reason is not None:
            self.refused = reason
            raise paramiko.SSHException(reason)


def _host_key_policy(known_hosts: Path | None, accept_new: bool) -> _HostKeyPolicy:
    own = known_hosts if known_hosts is not None else paths.known_hosts()
    files = [own] if known_hosts is not None else [own, Path.home() / ".ssh" / "known_hosts"]
    return _HostKeyPolicy(files, own if accept_new else None)


# --------------------------------------------------------------------------- errors


def _where(host: Host) -> str:
    return f"{host.name} ({host.hostname}:{host.port})"


def _describe(exc: BaseException, policy: _HostKeyPolicy | None) -> str:
    """What happened, in a few words, never including a secret."""
    if policy is not None and policy.refused:
        return policy.refused
    if isinstance(exc, paramiko.AuthenticationException | NetmikoAuthenticationException):
        return "authentication failed (check username/password or key)"
    if isinstance(exc, socket.timeout | TimeoutError | NetmikoTimeoutException | ReadException):
        text = str(exc).strip().splitlines()
        detail = text[0] if text else ""
        if "TCP connection to device failed" in detail:
            return "connection refused or unreachable"
        return "timed out" + (f": {detail}" if detail and "imeout" not in detail else "")
    if isinstance(exc, FileNotFoundError):
        return f"SSH key file not found: {exc.filename}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        # paramiko's "[Errno None] Unable to connect to port 22 on ...": every address
        # refused or unreachable, the same as netmiko's TCP failure above
        return "connection refused or unreachable"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return "session dropped by the device"
    if isinstance(exc, OSError) and "closed" in str(exc).lower():
        return "session dropped by the device"
    if isinstance(exc, paramiko.SSHException | OSError):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"SSH error: {first}"
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _device_errors(
    host: Host,
    action: str,
    policy: _HostKeyPolicy | None = None,
    alive: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Turn library exceptions into one-line ConnectionFailures (secrets scrubbed).

    `alive` tells a read timeout from a dropped session (netmiko reports both as timeouts).
    """
    try:
        yield
    except (CommandRejected, ConnectionFailure):
        raise
    except (
        paramiko.SSHException,
        OSError,
        EOFError,
        NetmikoTimeoutException,
        ReadException,
    ) as exc:
        what = _describe(exc, policy)
        if alive is not None and not alive():
            what = "session dropped by the device"
        raise ConnectionFailure(_scrub(f"{_where(host)}: {action}: {what}", host)) from None
    except ValueError as exc:  # netmiko: prompt or enable mode not found
        msg = _scrub(f"{_where(host)}: {action}: {str(exc).strip().splitlines()[0]}", host)
        raise ConnectionFailure(msg) from None


def _scrub(text: str, host: Host) -> str:
    return redact.redact_text(text, redact.host_secrets(host))


# --------------------------------------------------------------------------- transport


class _AeadFirstTransport(paramiko.Transport):
    """paramiko with AES-GCM preferred: no separate MAC, whose per-packet check paramiko
    does in pure Python (CLI devices echo keystrokes, so a push is hundreds of packets).
    Servers without GCM negotiate the next cipher as before."""

    _preferred_ciphers = (
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        *(c for c in getattr(paramiko.Transport, "_preferred_ciphers", ()) if "gcm" not in c),
    )


class _Client(paramiko.SSHClient):
    def connect(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("transport_factory", _AeadFirstTransport)
        super().connect(*args, **kwargs)


class _OrchConnection(CiscoBaseConnection):
    """netmiko connections built on our client (host keys via key_policy, AEAD first),
    reading event-driven: netmiko polls every 10 ms, which with 50 sessions in one
    process costs more CPU than the SSH itself; here a reader sleeps in select() on the
    paramiko channel until data arrives, and a closed channel ends the wait at once."""

    def _build_ssh_client(self) -> paramiko.SSHClient:
        client = _Client()
        client.set_missing_host_key_policy(self.key_policy)
        return client

    def read_until_pattern(
        self,
        pattern: str = "",
        read_timeout: float = 10.0,
        re_flags: int = 0,
        max_loops: int | None = None,
    ) -> str:
        """Read until `pattern`; return the output up to and including the match."""
        regex = re.compile(pattern, re_flags)
        deadline = time.monotonic() + read_timeout if read_timeout else float("inf")
        chan = self.remote_conn
        output = ""
        while True:
            output += self.read_channel()
            match = regex.search(output)
            if match:
                self._read_buffer += output[match.end() :]
                return output[: match.end()]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadTimeout(f"Pattern not detected: {pattern!r} in output.")
            if not isinstance(chan, paramiko.Channel):
                time.sleep(0.01)
                continue
            if chan.closed or (chan.eof_received and not chan.recv_ready()):
                raise ReadException("Channel stream closed by remote device.")
            select.select([chan], [], [], min(remaining, 0.5))

    def run_command(self, command: str, prompt: str, read_timeout: float) -> str:
        """Send one command; return its output without the echo and the final prompt."""
        self.write_channel(self.normalize_cmd(command))
        self.read_until_pattern(re.escape(command.strip()), read_timeout=read_timeout)
        text = self.read_until_pattern(prompt, read_timeout=read_timeout, re_flags=re.M)
        lines = text.split("\n")
        return "\n".join(lines[1:-1]) if len(lines) > 1 else ""


# --------------------------------------------------------------------------- exec sessions


class ExecSession:
    """paramiko exec channels (Linux, Windows OpenSSH): one channel per command."""

    def __init__(self, host: Host, client: paramiko.SSHClient, timeout_s: float) -> None:
        self.host = host
        self._client = client
        self._timeout_s = timeout_s

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionFailure(f"{_where(self.host)}: run: session dropped by the device")
        with _device_errors(self.host, f"running {' '.join(command.split()[:2])!r}"):
            chan = transport.open_session(timeout=timeout_s)
            try:
                chan.settimeout(timeout_s)
                chan.exec_command(command)
                if stdin is not None:
                    chan.sendall(stdin.encode())
                chan.shutdown_write()
                out, err = _drain(chan, deadline=time.monotonic() + timeout_s)
                status = chan.recv_exit_status() if chan.exit_status_ready() else -1
            finally:
                chan.close()
        if status == -1:
            # The server closed the channel without an exit status: the session dropped.
            what = f"running {' '.join(command.split()[:2])!r}: session dropped by the device"
            raise ConnectionFailure(f"{_where(self.host)}: {what}")
        return CommandResult(command, out, status, err)

    def configure(self, lines: Sequence[str]) -> str:
        """Exec platforms have no configuration mode: run each line, fail on non-zero exit."""
        outputs = []
        for line in lines:
            result = self.run(line, timeout_s=self._timeout_s)
            if not result.ok:
                raise CommandRejected(
                    f"{_where(self.host)}: {line!r} exited {result.exit_status}: "
                    f"{(result.stderr or result.output).strip()[:200]}",
                    command=line,
                    output=result.output + result.stderr,
                )
            outputs.append(result.output)
        return "".join(outputs)

    def save(self) -> str:
        return ""

    def close(self) -> None:
        _stop_reader(self._client.get_transport())
        self._client.close()

    def __enter__(self) -> ExecSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stop_reader(transport: paramiko.Transport | None) -> None:
    """End paramiko's reader thread before its socket descriptor is released.

    Transport.close() closes the socket while the reader thread may still be inside a
    read; in a busy fleet run the descriptor number is soon reused by another session's
    new connection, and the stale thread then reads bytes of that connection, whose key
    exchange fails ("Negotiation failed", about once in 2,000 sessions). Shutting the
    socket down (the descriptor stays allocated) makes the reader see EOF at once; it
    then closes the socket itself and marks the transport inactive, and the client's
    close() that follows has nothing left to race with.
    """
    if transport is None or not transport.is_alive():
        return
    sock = transport.sock
    with contextlib.suppress(OSError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)
    transport.join(1.0)


def _drain(chan: paramiko.Channel, *, deadline: float) -> tuple[str, str]:
    """Read stdout and stderr until the channel's EOF, without either pipe blocking.

    The exit status may come before the last data (the server sends it when the process
    ends, while output can still wait for window space), so EOF ends the read, not it.
    """
    out: list[bytes] = []
    err: list[bytes] = []
    while True:
        if chan.recv_ready():
            out.append(chan.recv(65536))
        elif chan.recv_stderr_ready():
            err.append(chan.recv_stderr(65536))
        elif chan.eof_received or chan.closed:
            break
        elif time.monotonic() > deadline:
            raise TimeoutError("no answer before the timeout")
        else:
            chan.status_event.wait(0.01)
    # The exit status follows EOF closely; a channel closed without one has dropped.
    while not chan.exit_status_ready() and not chan.closed and time.monotonic() < deadline:
        chan.status_event.wait(0.01)
    return b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")


def _open_exec(host: Host, timeout_s: float, policy: _HostKeyPolicy) -> ExecSession:
    client = _Client()
    client.set_missing_host_key_policy(policy)
    password = host.password.reveal() if host.password else None
    with _device_errors(host, "connect", policy):
        client.connect(
            host.hostname,
            port=host.port,
            username=host.username,
            password=password,
            key_filename=host.ssh_key_file,
            timeout=timeout_s,
            auth_timeout=timeout_s,
            banner_timeout=timeout_s,
            look_for_keys=False,
            allow_agent=False,
        )
    return ExecSession(host, client, timeout_s)


# --------------------------------------------------------------------------- netmiko CLI sessions


class CatOsConnection(_OrchConnection):
    """CatOS for netmiko: `Console> (enable)` prompt, `set length 0`, no config mode."""

    PROMPT = r"[\w.@-]+> (?:\(enable\) ?)?$"

    def session_preparation(self) -> None:
        self._test_channel_read(pattern=r">")
        self.set_base_prompt()
        self.disable_paging(command="set length 0")

    def set_base_prompt(
        self,
        pri_prompt_terminator: str = ">",
        alt_prompt_terminator: str = ">",
        delay_factor: float = 1.0,
        pattern: str | None = None,
    ) -> str:
        prompt = self.find_prompt(delay_factor=delay_factor, pattern=r">")
        self.base_prompt = prompt.split(">")[0].strip()
        return self.base_prompt

    def prompt_pattern(self) -> str:
        return re.escape(self.base_prompt) + r"> (?:\(enable\) ?)?$"

    def check_enable_mode(self, check_string: str = "(enable)") -> bool:
        return super().check_enable_mode(check_string=check_string)

    def enable(
        self,
        cmd: str = "enable",
        pattern: str = "ssword",
        enable_pattern: str | None = r"\(enable\)",
        check_state: bool = True,
        re_flags: int = re.IGNORECASE,
    ) -> str:
        return super().enable(
            cmd=cmd,
            pattern=pattern,
            enable_pattern=enable_pattern,
            check_state=check_state,
            re_flags=re_flags,
        )

    def check_config_mode(
        self, check_string: str = "", pattern: str = "", force_regex: bool = False
    ) -> bool:
        return False  # CatOS has no configuration mode

    def config_mode(self, config_command: str = "", pattern: str = "", re_flags: int = 0) -> str:
        return ""

    def exit_config_mode(self, exit_config: str = "", pattern: str = "") -> str:
        return ""

    def save_config(self, cmd: str = "", confirm: bool = False, confirm_response: str = "") -> str:
        return ""  # CatOS writes `set` commands to NVRAM as they are entered


class IosConnection(_OrchConnection, CiscoIosSSH):
    """netmiko's cisco_ios with fewer round trips: connection setup dominates a push.

    The prompt that ends the login banner is taken as the device's prompt (netmiko sends
    an extra Enter to find it); no `terminal width` (our commands are short and the
    config-block check does not rely on echoes); the prompt tells whether we are already
    in enable mode; logout does not first probe for configuration mode.
    """

    PROMPT = re.compile(r"(?:^|\n)([\w.@/:-]+[>#])\s*$")
    last_prompt = ""
    _cached_prompt = ""

    def session_preparation(self) -> None:
        banner = self._test_channel_read(pattern=r"[\w.@/:-]+[>#]\s*$")
        found = self.PROMPT.search(banner)
        if found:
            self._cached_prompt = found.group(1)
        self.set_base_prompt()
        self.disable_paging()

    def set_base_prompt(
        self,
        pri_prompt_terminator: str = "#",
        alt_prompt_terminator: str = ">",
        delay_factor: float = 1.0,
        pattern: str | None = None,
    ) -> str:
        if not self._cached_prompt:
            self._cached_prompt = self.find_prompt(delay_factor=delay_factor, pattern=r"[>#]")
        self.last_prompt = self._cached_prompt
        try:  # the parent looks for the prompt once more: answered from the cache
            return super().set_base_prompt(pri_prompt_terminator, alt_prompt_terminator)
        finally:
            self._cached_prompt = ""

    def find_prompt(self, delay_factor: float = 1.0, pattern: str | None = None) -> str:
        if self._cached_prompt:
            return self._cached_prompt
        return str(super().find_prompt(delay_factor=delay_factor, pattern=pattern))

    def cleanup(self, command: str = "exit") -> None:
        self.write_channel(command + self.RETURN)


class CliSession:
    """A netmiko channel to a Cisco CLI (IOS or CatOS)."""

    def __init__(self, host: Host, conn: CiscoBaseConnection, timeout_s: float) -> None:
        self.host = host
        self._conn = conn
        self._timeout_s = timeout_s
        self._catos = isinstance(conn, CatOsConnection)

    def _alive(self) -> bool:
        chan = getattr(self._conn, "remote_conn", None)
        if not isinstance(chan, paramiko.Channel):
            return False
        transport = chan.get_transport()
        return bool(transport is not None and transport.is_active() and not chan.closed)

    def _exec_prompt(self) -> str:
        """The exec-mode prompt (`r1#`, `sw> (enable)`), anchored at the end of the output."""
        if isinstance(self._conn, CatOsConnection):
            return self._conn.prompt_pattern()
        return re.escape(self._conn.base_prompt) + r"[>#]\s*$"

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        with _device_errors(self.host, f"running {command!r}", alive=self._alive):
            conn = self._conn
            assert isinstance(conn, _OrchConnection)
            output = conn.run_command(command, self._exec_prompt(), timeout_s)
        if not self._catos:
            refused = re.search(IOS_ERROR_RE, output, re.M)
            if refused:
                hint = ""
                if isinstance(conn, IosConnection) and conn.last_prompt.endswith(">"):
                    hint = "; not in privileged mode (give the host an enable_secret)"
                raise CommandRejected(
                    f"{_where(self.host)}: device rejected {command!r} ({refused.group(0)}){hint}",
                    command=command,
                    output=output,
                )
        return CommandResult(command, output)

    def configure(self, lines: Sequence[str]) -> str:
        """IOS: the whole block in one write (`configure terminal` ... `end`), as a paste.

        Like a paste, IOS goes on after a refused line; the first refused line is raised
        (CommandRejected.command), so a caller knows everything before it was accepted.
        """
        if self._catos:
            return self._configure_exec(lines)
        conn = self._conn
        if isinstance(conn, IosConnection) and conn.last_prompt.endswith(">"):
            raise CommandRejected(
                f"{_where(self.host)}: cannot configure: not in privileged mode "
                "(give the host an enable_secret)",
                command="configure terminal",
            )
        block = ["configure terminal", *lines, "end"]
        done = re.escape(conn.base_prompt) + r"#\s*$"  # `r1#`, not `r1(config)#`
        with _device_errors(self.host, "configure", alive=self._alive):
            conn.write_channel("".join(conn.normalize_cmd(line) for line in block))
            output = conn.read_until_pattern(pattern=done, read_timeout=self._timeout_s)
        # Each line answers with one `r1(config...)#` prompt: the text after the k-th
        # prompt is the echo and answer of block[k] (echoes may be scrolled at 80 columns,
        # so the line is taken from the block, not from the echo).
        config_prompt = re.escape(conn.base_prompt) + r"\([^)]*\)#"
        segments = re.split(config_prompt, output)
        for line, segment in zip(block[1:], segments[1:], strict=False):
            answer = segment.partition("\n")[2]
            if re.search(IOS_ERROR_RE, answer, re.M):
                error = next(x for x in answer.splitlines() if x.startswith("%"))
                raise CommandRejected(
                    _scrub(f"{_where(self.host)}: device rejected {line!r} ({error})", self.host),
                    command=line,
                    output=answer,
                )
        return output

    def _configure_exec(self, lines: Sequence[str]) -> str:
        outputs = []
        for line in lines:
            out = self.run(line, timeout_s=self._timeout_s).output
            if CATOS_ERROR_RE.search(out):
                what = f"device rejected {line!r}: {out.strip().splitlines()[0]}"
                raise CommandRejected(
                    _scrub(f"{_where(self.host)}: {what}", self.host),
                    command=line,
                    output=out,
                )
            outputs.append(out)
        return "".join(outputs)

    def save(self) -> str:
        if self._catos:
            return ""  # CatOS writes `set` commands to NVRAM as they are entered
        output = self.run("write memory", timeout_s=max(self._timeout_s, 60.0)).output
        if re.search(r"^%", output, re.M):
            raise CommandRejected(
                f"{_where(self.host)}: write memory failed: {output.strip().splitlines()[-1]}",
                command="write memory",
                output=output,
            )
        return output

    def close(self) -> None:
        with contextlib.suppress(Exception):
            pre = getattr(self._conn, "remote_conn_pre", None)
            _stop_reader(pre.get_transport() if pre is not None else None)
        with contextlib.suppress(Exception):
            self._conn.disconnect()

    def __enter__(self) -> CliSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_cli(host: Host, timeout_s: float, policy: _HostKeyPolicy) -> CliSession:
    catos = host.platform == "cisco_catos"
    cls: type[CiscoBaseConnection] = CatOsConnection if catos else IosConnection
    conn = cls(
        host=host.hostname,
        port=host.port,
        username=host.username,
        password=host.password.reveal() if host.password else "",
        secret=host.enable_secret.reveal() if host.enable_secret else "",
        device_type="cisco_catos" if catos else "cisco_ios",
        key_file=host.ssh_key_file,
        use_keys=host.ssh_key_file is not None,
        allow_agent=False,
        system_host_keys=False,
        alt_host_keys=False,
        conn_timeout=timeout_s,
        auth_timeout=timeout_s,
        banner_timeout=timeout_s,
        blocking_timeout=timeout_s,
        fast_cli=True,
        auto_connect=False,
    )
    conn.key_policy = policy  # checked by our known_hosts cache, not paramiko's files
    with _device_errors(host, "connect", policy):
        try:
            conn._open()
            if host.enable_secret:
                if isinstance(conn, IosConnection):
                    if conn.last_prompt.endswith(">"):
                        # The `#` prompt ends it: no extra round trip to check enable mode.
                        conn.enable(check_state=False, enable_pattern=r"#\s*$")
                        conn.last_prompt = conn.last_prompt[:-1] + "#"
                elif not conn.check_enable_mode():
                    conn.enable()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.disconnect()
            raise
    return CliSession(host, conn, timeout_s)


# --------------------------------------------------------------------------- napalm sessions


class NapalmSession:
    """napalm's candidate-config workflow for the platforms it already covers."""

    def __init__(self, host: Host, device: Any, timeout_s: float) -> None:
        self.host = host
        self._device = device
        self._timeout_s = timeout_s

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        with _device_errors(self.host, f"running {command!r}"):
            out = self._device.cli([command])
        return CommandResult(command, str(out.get(command, "")))

    def configure(self, lines: Sequence[str]) -> str:
        diff = self.merge_candidate("\n".join(lines) + "\n")
        self.commit()
        return diff

    def save(self) -> str:
        return ""  # commit persists

    def get_ntp_servers(self) -> Mapping[str, Mapping[str, object]]:
        with _device_errors(self.host, "get_ntp_servers"):
            servers = self._device.get_ntp_servers()
        return {str(k): dict(v) for k, v in servers.items()}

    def get_ntp_stats(self) -> object:
        with _device_errors(self.host, "get_ntp_stats"):
            stats: object = self._device.get_ntp_stats()
        return stats

    def running_config(self) -> str:
        with _device_errors(self.host, "get_config"):
            config = self._device.get_config(retrieve="running")
        return str(config.get("running", ""))

    def merge_candidate(self, config: str) -> str:
        with _device_errors(self.host, "load_merge_candidate"):
            try:
                self._device.load_merge_candidate(config=config)
            except Exception as exc:
                if type(exc).__name__ in {"MergeConfigException", "ReplaceConfigException"}:
                    raise CommandRejected(
                        f"{_where(self.host)}: candidate rejected: {str(exc).splitlines()[0]}",
                        command=config.strip(),
                    ) from None
                raise
            diff = self._device.compare_config()
        return str(diff or "")

    def commit(self) -> None:
        with _device_errors(self.host, "commit_config"):
            self._device.commit_config()

    def discard(self) -> None:
        with _device_errors(self.host, "discard_config"):
            self._device.discard_config()

    def rollback(self) -> None:
        with _device_errors(self.host, "rollback"):
            self._device.rollback()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._device.close()

    def __enter__(self) -> NapalmSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _napalm_driver_name(host: Host) -> str:
    name = host.data_get("napalm_driver") or host.platform.removeprefix("napalm_")
    if name not in NAPALM_PLATFORMS and name != "mock":
        raise InputError(
            f"{host.name}: no napalm driver for platform {host.platform!r} "
            f"(use one of {', '.join(NAPALM_PLATFORMS)})"
        )
    return name


def _open_napalm(host: Host, timeout_s: float) -> NapalmSession:
    from napalm import get_network_driver  # heavy import: only when a napalm host exists

    name = _napalm_driver_name(host)
    optional: dict[str, Any] = {"port": host.port}
    if name == "mock":
        optional = {"path": host.data_get("napalm_mock_path", ""), "profile": ["mock"]}
    device = get_network_driver(name)(
        hostname=host.hostname,
        username=host.username,
        password=host.password.reveal() if host.password else "",
        timeout=int(timeout_s),
        optional_args=optional,
    )
    with _device_errors(host, "connect"):
        try:
            device.open()
        except Exception as exc:
            if type(exc).__name__ == "ConnectionException":
                raise ConnectionFailure(
                    _scrub(f"{_where(host)}: connect: {str(exc).splitlines()[0]}", host)
                ) from None
            raise
    return NapalmSession(host, device, timeout_s)


# --------------------------------------------------------------------------- entry point


def open_session(
    host: Host,
    *,
    timeout_s: float = 30.0,
    known_hosts: Path | None = None,
    accept_new_host_keys: bool = False,
) -> ExecSession | CliSession | NapalmSession:
    """Connect to `host` on its platform's transport. Raises ConnectionFailure.

    `known_hosts`: the file to check and record host keys in (default: orch's own file,
    plus ~/.ssh/known_hosts read-only). Every returned session is a context manager.
    """
    if host.platform in EXEC_PLATFORMS:
        return _open_exec(host, timeout_s, _host_key_policy(known_hosts, accept_new_host_keys))
    if host.platform in ("cisco_ios", "cisco_catos"):
        return _open_cli(host, timeout_s, _host_key_policy(known_hosts, accept_new_host_keys))
    if host.platform in NAPALM_PLATFORMS or host.platform.startswith("napalm"):
        return _open_napalm(host, timeout_s)
    raise InputError(f"{host.name}: no session type for platform {host.platform!r}")


__all__ = [
    "NAPALM_PLATFORMS",
    "CatOsConnection",
    "CliSession",
    "ExecSession",
    "NapalmSession",
    "open_session",
]
