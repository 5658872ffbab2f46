"""The driver contract: one module per platform behind these small protocols.

    collect(session) -> raw outputs          I/O
    parse(raw) -> DeviceState                pure
    render(desired, current) -> Plan         pure
    apply(session, plan) -> ApplyReport      I/O
    restore(session, backup) -> None         I/O

A Session is the only thing a driver talks to a device through; the concrete
sessions live in the transport layer (drivers/transport/, entry point
drivers/session.py), the only code that imports netmiko, napalm or paramiko.

Optional: `current(backup) -> DeviceState` (engine.push.ConfigReader). A driver whose
backup already holds its configuration read-back offers it, and a push then reads the
device once instead of backup + collect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from orchestrator.models import DesiredNtp, DeviceState, Host


@dataclass(frozen=True)
class CommandResult:
    """Output of one command. `exit_status` is None on CLIs that have none (IOS, CatOS)."""

    command: str
    output: str
    exit_status: int | None = None
    stderr: str = ""  # exec sessions only; CLI sessions interleave errors into `output`

    @property
    def ok(self) -> bool:
        return self.exit_status in (None, 0)


class Session(Protocol):
    """An open connection to one device."""

    host: Host

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        """Run one operational command (exec on Linux/Windows, a CLI line on IOS/CatOS)."""
        ...

    def configure(self, lines: Sequence[str]) -> str:
        """Enter configuration mode where the platform has one, send `lines`, leave it.

        Raises CommandRejected when the device answers `% Invalid input` (or its
        platform's equivalent) to a line.
        """
        ...

    def save(self) -> str:
        """Persist the running configuration (`write memory`); no-op where meaningless."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CandidateSession(Session, Protocol):
    """A session on a platform with a candidate configuration (napalm: eos, junos, nxos, iosxr).

    `configure` is not used on these; a change is merged, compared, then committed
    or discarded, and the last commit can be rolled back.
    """

    def get_ntp_servers(self) -> Mapping[str, Mapping[str, object]]:
        """napalm's `get_ntp_servers()`: address -> attributes."""
        ...

    def get_ntp_stats(self) -> object:
        """napalm's `get_ntp_stats()` as returned (a list of dicts, one per association);
        the driver checks its shape."""
        ...

    def running_config(self) -> str: ...

    def merge_candidate(self, config: str) -> str:
        """Load `config` as a merge candidate and return the device's diff ('' if none)."""
        ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...

    def rollback(self) -> None: ...


@dataclass(frozen=True)
class Backup:
    """What a device had before a change: enough to put it back byte for byte."""

    host: str
    platform: str
    # For CLI platforms: the NTP lines of the running config. For file-based
    # platforms: path -> previous content (None when the file did not exist).
    config_lines: tuple[str, ...] = ()
    files: tuple[tuple[str, str | None], ...] = ()
    extra: tuple[tuple[str, str], ...] = ()  # platform specifics (e.g. w32tm registry values)


@dataclass(frozen=True)
class Plan:
    """The change a device needs. Empty `commands` and `files` means already compliant."""

    host: str
    platform: str
    commands: tuple[str, ...] = ()  # config-mode lines (IOS/CatOS) or exec commands
    files: tuple[tuple[str, str], ...] = ()  # path -> new content (Linux)
    post_commands: tuple[str, ...] = ()  # e.g. `chronyc reload sources`, `w32tm /resync`
    diff: str = ""  # unified diff a person reads in --dry-run
    warnings: tuple[str, ...] = ()
    # Why this device cannot be changed from here (e.g. a Windows domain policy owns the
    # setting); the engine reports it as a failure and touches nothing.
    blocked: str = ""
    # Commands whose effect the device's read-back cannot show (a key whose value it does
    # not print): sent every time, never expected to vanish from a re-read's plan.
    unverifiable: tuple[str, ...] = ()

    @property
    def is_noop(self) -> bool:
        return not self.commands and not self.files


@dataclass(frozen=True)
class ApplyReport:
    applied: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # Commands the device refused that the driver tolerates (e.g. `ntp update-calendar`
    # without a hardware calendar): the engine's re-read check does not expect them.
    skipped: tuple[str, ...] = ()


class Driver(Protocol):
    platform: str

    def collect(self, session: Session) -> Mapping[str, str]:
        """Read everything needed to judge the device: command -> raw output."""
        ...

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        """Pure: raw outputs -> normalised state (config, associations, status)."""
        ...

    def backup(self, session: Session) -> Backup:
        """Read the current NTP configuration so that it can be restored."""
        ...

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        """Pure: the change from what is there to what is wanted (noop when compliant)."""
        ...

    def apply(self, session: Session, plan: Plan) -> ApplyReport:
        """Make the change. Raises DeviceError subclasses on failure."""
        ...

    def restore(self, session: Session, backup: Backup) -> None:
        """Put the backup back (used when apply or the re-read check fails)."""
        ...
