"""Exec sessions (Linux, Windows OpenSSH): one paramiko exec channel per command."""

from __future__ import annotations

import time
from collections.abc import Sequence

import paramiko

from orchestrator.drivers.base import CommandResult
from orchestrator.drivers.transport.client import Client, close, connect
from orchestrator.drivers.transport.errors import device_errors, where
from orchestrator.drivers.transport.hostkeys import HostKeyPolicy
from orchestrator.errors import CommandRejected, ConnectionFailure
from orchestrator.models import Host


class ExecSession:
    """paramiko exec channels (Linux, Windows OpenSSH): one channel per command."""

    def __init__(self, host: Host, client: Client, timeout_s: float) -> None:
        self.host = host
        self._client = client
        self._timeout_s = timeout_s

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionFailure(f"{where(self.host)}: run: session dropped by the device")
        with device_errors(self.host, f"running {' '.join(command.split()[:2])!r}"):
            chan = transport.open_session(timeout=timeout_s)
            try:
                chan.settimeout(timeout_s)
                chan.exec_command(command)
                if stdin is not None:
                    chan.sendall(stdin.encode())
                chan.shutdown_write()
                out, err = drain(chan, deadline=time.monotonic() + timeout_s)
                status = chan.recv_exit_status() if chan.exit_status_ready() else -1
            finally:
                chan.close()
        if status == -1:
            # The server closed the channel without an exit status: the session dropped.
            what = f"running {' '.join(command.split()[:2])!r}: session dropped by the device"
            raise ConnectionFailure(f"{where(self.host)}: {what}")
        return CommandResult(command, out, status, err)

    def configure(self, lines: Sequence[str]) -> str:
        """Exec platforms have no configuration mode: run each line, fail on non-zero exit."""
        outputs = []
        for line in lines:
            result = self.run(line, timeout_s=self._timeout_s)
            if not result.ok:
                raise CommandRejected(
                    f"{where(self.host)}: {line!r} exited {result.exit_status}: "
                    f"{(result.stderr or result.output).strip()[:200]}",
                    command=line,
                    output=result.output + result.stderr,
                )
            outputs.append(result.output)
        return "".join(outputs)

    def save(self) -> str:
        return ""

    def close(self) -> None:
        close(self._client)

    def __enter__(self) -> ExecSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drain(chan: paramiko.Channel, *, deadline: float) -> tuple[str, str]:
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


def open_exec(host: Host, timeout_s: float, policy: HostKeyPolicy) -> ExecSession:
    return ExecSession(host, connect(host, policy, timeout_s), timeout_s)
