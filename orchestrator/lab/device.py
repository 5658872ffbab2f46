"""What every simulated device has: a spec, a clock, an NTP client, logins and shells."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.lab.clock import DeviceClock
from orchestrator.lab.ntp_runtime import DeviceNtpClient
from orchestrator.lab.spec import DeviceSpec, LabSpec


@dataclass
class Reply:
    """What a shell answers to one line of input."""

    output: str = ""
    close: bool = False  # end the session after writing output (exit, logout)
    # a device that takes its time: `output`, then this long a pause, then `later`
    delay_s: float = 0.0
    later: str = ""
    # unsolicited text (a syslog line) that arrives just after the prompt
    after_prompt: str = ""


class Shell(Protocol):
    """One interactive CLI session on a device (one per SSH channel)."""

    def banner(self) -> str: ...

    def prompt(self) -> str: ...

    def echo(self) -> bool:
        """Echo what is typed (False while a password is being asked for)."""
        ...

    def handle(self, line: str) -> Reply: ...


@dataclass
class ExecResult:
    stdout: str
    stderr: str = ""
    exit_status: int = 0


class SimDevice:
    """Base of the simulated platforms."""

    platform = ""

    def __init__(self, spec: DeviceSpec, lab: LabSpec) -> None:
        self.spec = spec
        self.lab = lab
        self.clock = DeviceClock(spec.clock_error_s, spec.drift_ppm)
        self.ntp = DeviceNtpClient(
            source_address=spec.address,
            clock=self.clock,
            poll_interval_s=lab.poll_interval_s,
            ntp_port=lab.ntp_port,
            unreachable=spec.faults.unreachable_servers,
        )
        self.port = spec.port  # the real one once listening (spec.port may be 0)
        self.sessions: set[Any] = set()  # open SSH connections, closed when the lab stops
        self.logins = 0
        self.failed_logins = 0
        # Tests: drop the session right after the N-th NTP change line the device takes
        # (0: never), counted in `change_lines`, so a drop can be put at every step.
        self.drop_on_change = 0
        self.change_lines = 0

    @property
    def hostname(self) -> str:
        return self.spec.name

    def check_login(self, username: str, password: str) -> bool:
        expected = self.spec.password
        if self.spec.faults.wrong_password:
            # The device's password was changed behind the inventory's back.
            expected = expected + "-rotated"
        ok = hmac.compare_digest(username, self.spec.username) and hmac.compare_digest(
            password.encode(), expected.encode()
        )
        if ok:
            self.logins += 1
        else:
            self.failed_logins += 1
        return ok

    def start(self) -> None:
        """Called in the lab's event loop once the device is listening."""

    def stop(self) -> None:
        self.ntp.close()
        for conn in list(self.sessions):
            conn.abort()
        self.sessions.clear()

    def new_shell(self) -> Shell:
        raise NotImplementedError

    async def exec_command_async(self, command: str) -> ExecResult:
        """SSH exec channel entry point; platforms with slow commands override it."""
        return self.exec_command(command)

    def exec_command(self, command: str) -> ExecResult:
        """SSH exec channel (`ssh host command`). Default: run one line in a fresh shell."""
        shell = self.new_shell()
        return ExecResult(shell.handle(command).output + "\n")
