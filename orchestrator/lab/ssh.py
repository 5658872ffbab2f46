"""SSH front end of the simulated devices (asyncssh): logins, a terminal, exec channels.

The terminal behaves like a router's vty: characters are echoed as typed, `\\r`, `\\n`
and `\\r\\n` each end one line, backspace edits, output lines end in `\\r\\n`. Device
faults that concern the session (slow answers, a connection dropped mid-command) are
applied here; the platform shells only decide what text to answer.

Output is buffered per received chunk, as a vty's output is: what one SSH data message
brings (a keystroke, or a whole line pasted by netmiko) is echoed, answered and
prompted for in one SSH data message. The bytes are the same as a character-at-a-time
echo; only the packet boundaries differ, and every SSH packet costs the client a
decryption and a wake-up (paramiko does its part in Python).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import asyncssh
from asyncssh.constants import MSG_IGNORE
from asyncssh.packet import String, UInt32

from orchestrator.lab.device import Shell, SimDevice

log = logging.getLogger(__name__)

_BACKSPACE = ("\x7f", "\x08")


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


_IGNORE_PADDING = (String(b""),)


def _without_ignore_padding(conn: asyncssh.SSHServerConnection) -> None:
    """Stop asyncssh from sending an empty SSH_MSG_IGNORE ahead of every packet.

    That padding is the RFC 4251 9.3.1 countermeasure for CBC ciphers; asyncssh sends it
    whatever the cipher, but offers no CBC by default (the lab leaves its defaults), and
    real routers do not send it. It doubled the packets a client decrypts and wakes up
    for, about 10% of the CPU of a lab login. asyncssh sends it from `send_packet`
    itself, so the filter sits on this connection's `send_packet`.
    """
    send = conn.send_packet

    def send_packet(pkttype: int, *args: bytes, handler: Any = None) -> None:
        if pkttype == MSG_IGNORE and args == _IGNORE_PADDING:
            return
        send(pkttype, *args, handler=handler)

    conn.send_packet = send_packet  # type: ignore[method-assign]


class _DeviceServer(asyncssh.SSHServer):
    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        _without_ignore_padding(conn)
        self.device.sessions.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self.device.sessions.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always ask for a password, as a vty with `login local` does

    def password_auth_supported(self) -> bool:
        return not self.device.spec.faults.keyboard_interactive

    def validate_password(self, username: str, password: str) -> bool:
        return self.device.check_login(username, password)

    # Keyboard-interactive instead of password (TACACS/RADIUS-backed vtys, Netshot#400):
    # one `Password:` prompt, not echoed.
    def kbdint_auth_supported(self) -> bool:
        return self.device.spec.faults.keyboard_interactive

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        return "", "", "", [("Password: ", False)]

    def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        return len(responses) == 1 and self.device.check_login(username, responses[0])


class _Output:
    """The vty's output buffer: text written while one received chunk is processed goes
    out as one SSH data message on `flush()`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def flush(self) -> None:
        if self._parts:
            self._stream.write("".join(self._parts))
            self._parts.clear()


# A line that changes the NTP configuration on a simulated platform (IOS config mode and
# `write memory`, CatOS `set`/`clear`, Windows `w32tm /config`): what
# `SimDevice.drop_on_change` counts.
CHANGE_LINE = re.compile(
    r"\s*(no\s+ntp\s|ntp\s|set\s+ntp\s|clear\s+ntp\s|w32tm\s+/config\b|write\s+mem)", re.I
)


def _nth_change(device: SimDevice, line: str) -> bool:
    """True when `line` is the change line the device was told to drop after."""
    if device.drop_on_change <= 0 or not CHANGE_LINE.match(line):
        return False
    device.change_lines += 1
    return device.change_lines == device.drop_on_change


async def _answer(device: SimDevice, process: Any, out: _Output, line: str, output: str) -> bool:
    """Apply the session faults to one answer; False if the link was dropped instead.

    A faulty device has echoed the line before it stalls or drops: what is buffered is
    sent first."""
    faults = device.spec.faults
    drop = faults.drop_on_command
    dropping = drop is not None and drop != "" and line.strip().lower().startswith(drop.lower())
    dropping = _nth_change(device, line) or dropping
    if faults.slow_response_s > 0 or dropping:
        out.flush()
    if faults.slow_response_s > 0:
        await asyncio.sleep(faults.slow_response_s)
    if dropping:
        process.stdout.write(_crlf(output[: len(output) // 2]))
        await asyncio.sleep(0.05)
        conn = process.get_extra_info("connection")
        if conn is not None:
            conn.abort()
        return False
    return True


class _Pager:
    """`terminal length N` paging: N-1 lines, then ` --More-- ` until a key is pressed.

    Space shows the next page, Enter one more line, any other key ends the output. The
    marker is erased with backspaces before the next lines, as a vty does.
    """

    MORE = " --More-- "

    def __init__(self, out: _Output, shell: Shell) -> None:
        self.out = out
        self.shell = shell
        self.pending: list[str] = []

    @property
    def active(self) -> bool:
        return bool(self.pending)

    def start(self, output: str) -> None:
        """Write `output` (page by page if the shell pages) and then the prompt."""
        page = getattr(self.shell, "page_length", 0)
        body = output[:-1] if output.endswith("\n") else output
        lines = body.split("\n") if output else []
        if page <= 1 or len(lines) <= page - 1:
            if output:
                self.out.write(_crlf(output))
            self.out.write(self.shell.prompt())
            return
        self.pending = lines
        self._show(page - 1)

    def key(self, ch: str) -> None:
        n = len(self.MORE)
        self.out.write("\b" * n + " " * n + "\b" * n)
        if ch == " ":
            self._show(max(1, getattr(self.shell, "page_length", 0) - 1))
        elif ch in "\r\n":
            self._show(1)
        else:
            self.pending = []
            self.out.write(self.shell.prompt())

    def _show(self, count: int) -> None:
        chunk, self.pending = self.pending[:count], self.pending[count:]
        self.out.write("\r\n".join(chunk) + "\r\n")
        self.out.write(self.MORE if self.pending else self.shell.prompt())


class _Vty:
    """One interactive session's line discipline: echo, line editing, paging, answers."""

    def __init__(self, device: SimDevice, process: Any) -> None:
        self.device = device
        self.process = process
        self.shell = device.new_shell()
        self.out = _Output(process.stdout)
        self.pager = _Pager(self.out, self.shell)
        self.buffer: list[str] = []
        self.after_cr = False

    async def run(self) -> None:
        self.out.write(_crlf(self.shell.banner()))
        delay = self.device.spec.faults.login_delay_s
        if delay > 0:  # AAA: the prompt comes a while after the banner
            self.out.flush()
            await asyncio.sleep(delay)
        self.out.write(self.shell.prompt())
        self.out.flush()
        while True:
            try:
                data = await self.process.stdin.read(4096)
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            except (asyncssh.Error, ConnectionError):
                return
            if not data:
                return
            go_on = await self.feed(data)
            self.out.flush()
            if not go_on:
                return

    async def feed(self, data: str) -> bool:
        """Handle one received chunk; False once the session has ended.

        With a finite input buffer (the input_buffer fault), a chunk of several lines
        larger than the buffer keeps only what fits: a fast paste loses the rest."""
        limit = self.device.spec.faults.input_buffer
        if limit and len(data) > limit and any(c in data[:-1] for c in "\r\n"):
            data = data[:limit]
        for ch in data:
            if self.after_cr and ch == "\n":
                self.after_cr = False
                continue  # \r\n is one Enter
            self.after_cr = ch == "\r"
            if self.pager.active:
                self.pager.key(ch)
            elif ch in "\r\n":
                if not await self._enter():
                    return False
            else:
                self._key(ch)
        return True

    async def _enter(self) -> bool:
        line = "".join(self.buffer)
        self.buffer.clear()
        self.out.write("\r\n")
        reply = self.shell.handle(line)
        if not await _answer(self.device, self.process, self.out, line, reply.output):
            return False
        if reply.close:
            if reply.output:
                self.out.write(_crlf(reply.output))
            self.out.flush()
            self.process.exit(0)
            return False
        if reply.delay_s > 0:
            if reply.output:
                self.out.write(_crlf(reply.output))
            self.out.flush()
            await asyncio.sleep(reply.delay_s)
            self.pager.start(reply.later)
        else:
            self.pager.start(reply.output + reply.later)
        if reply.after_prompt:  # an unsolicited line, a moment after the prompt
            self.out.flush()
            await asyncio.sleep(0.02)
            self.out.write(_crlf(reply.after_prompt))
        return True

    def _key(self, ch: str) -> None:
        shell, out = self.shell, self.out
        if ch in _BACKSPACE:
            if self.buffer:
                self.buffer.pop()
                if shell.echo():
                    out.write("\b \b")
        elif ch == "\x1a":  # Ctrl-Z leaves configuration mode
            self.buffer.clear()
            shell.handle("end")
            out.write("^Z\r\n" + shell.prompt())
        elif ch == "\x03":  # Ctrl-C abandons the line
            self.buffer.clear()
            out.write("\r\n" + shell.prompt())
        elif ch >= " " or ch == "\t":
            self.buffer.append(ch)
            if shell.echo():
                self._echo(ch)

    def _echo(self, ch: str) -> None:
        """Echo one typed character. On a terminal `echo_width` columns wide, a line
        that reaches the edge scrolls: the prompt is redrawn with `$` and the end of the
        line (IOS shifts the visible part of a long command this way)."""
        width = self.device.spec.faults.echo_width
        prompt = self.shell.prompt()
        if not width or len(prompt) + len(self.buffer) < width - 1:
            self.out.write(ch)
            return
        visible = width - len(prompt) - 2
        self.out.write("\r" + prompt + "$" + "".join(self.buffer)[-visible:])


def _exit(process: Any, status: int) -> None:
    """Send a 32-bit exit status. Windows exit codes are HRESULTs (0x80070426) and
    Win32-OpenSSH reports the whole DWORD; asyncssh's `exit()` keeps only the low byte, so
    larger codes go out through the channel request it would have sent."""
    if 0 <= status <= 0xFF:
        process.exit(status)
        return
    chan = process.channel
    chan._send_request(b"exit-status", UInt32(status & 0xFFFFFFFF))
    chan.close()


async def _handle_process(device: SimDevice, process: Any) -> None:
    try:
        if process.command is not None:
            result = await device.exec_command_async(process.command)
            if not await _answer(
                device, process, _Output(process.stdout), process.command, result.stdout
            ):
                return
            if result.stdout:
                process.stdout.write(_crlf(result.stdout))
            if result.stderr:
                process.stderr.write(_crlf(result.stderr))
            _exit(process, result.exit_status)
            return
        await _Vty(device, process).run()
        process.exit(0)
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        return
    except Exception:  # one broken session must never take the lab down
        log.exception("%s: session failed", device.hostname)
        with contextlib.suppress(Exception):
            process.exit(1)


# Old IOS 12.x/15.x (netmiko#1337, cisco.ios#1133, mscdex/ssh2#1064): SHA-1 key
# exchanges only, an ssh-rsa host key, CBC ciphers, hmac-sha1/hmac-md5.
LEGACY_ALGORITHMS: dict[str, Any] = {
    "kex_algs": [
        "diffie-hellman-group-exchange-sha1",
        "diffie-hellman-group14-sha1",
        "diffie-hellman-group1-sha1",
    ],
    "encryption_algs": ["aes128-cbc", "3des-cbc"],
    "mac_algs": ["hmac-sha1", "hmac-md5"],
    "signature_algs": ["ssh-rsa"],
}
_RSA_KEY: list[Any] = []


def _legacy_host_key() -> Any:
    """One RSA host key per process for the legacy-SSH devices (generating is slow),
    offered as `ssh-rsa` only, as old IOS does (no rsa-sha2-256/512)."""
    if not _RSA_KEY:
        key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
        (pair,) = asyncssh.load_keypairs([key])
        pair.host_key_algorithms = [b"ssh-rsa"]
        _RSA_KEY.append(pair)
    return _RSA_KEY[0]


async def listen(device: SimDevice, key: asyncssh.SSHKey) -> asyncssh.SSHAcceptor:
    """Start the SSH server of one device on its address and port."""

    async def factory(process: Any) -> None:
        await _handle_process(device, process)

    legacy: dict[str, Any] = {}
    host_key: Any = key
    if device.spec.faults.legacy_ssh:
        legacy = dict(LEGACY_ALGORITHMS)
        host_key = _legacy_host_key()
    return await asyncssh.create_server(
        lambda: _DeviceServer(device),
        device.spec.address,
        device.spec.port,
        **legacy,
        server_host_keys=[host_key],
        process_factory=factory,
        encoding="utf-8",
        line_editor=False,
        allow_scp=False,
        reuse_address=True,
        login_timeout=30,
        keepalive_interval=0,
        backlog=256,
    )
