"""Frozen data shared by every layer of orch.

Units are explicit in names: `_ms` milliseconds, `_s` seconds. Nothing here does
I/O; these are plain values passed between inventory, drivers, parsing, engine,
compliance, store and reports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

PlatformId = Literal[
    "cisco_ios", "cisco_catos", "linux", "windows", "eos", "junos", "nxos", "iosxr"
]
# Platforms orch's own drivers handle ...
NATIVE_PLATFORMS: tuple[str, ...] = ("cisco_ios", "cisco_catos", "linux", "windows")
# ... and those napalm's own drivers cover (drivers/napalm_generic.py, napalm driver names).
NAPALM_PLATFORMS: tuple[str, ...] = ("eos", "junos", "nxos", "iosxr")
# What an inventory may name; drivers/__init__.py registers exactly these.
INVENTORY_PLATFORMS: tuple[str, ...] = (*NATIVE_PLATFORMS, *NAPALM_PLATFORMS)
# Platforms `orch parse` understands: orch's own plus the Cisco ones it has templates for.
PARSE_PLATFORMS: tuple[str, ...] = (*NATIVE_PLATFORMS, "cisco_xe", "cisco_xr", "cisco_nxos")

KeyAlgorithm = Literal["md5", "sha1", "aes128"]


class Secret:
    """A secret value that never prints itself.

    `str()`/`repr()` give a mask, so a secret that slips into a log line, an
    f-string or an exception message shows `********` instead of its value.
    Use `.reveal()` at the single point where the value is really needed
    (handing it to SSH or to a MAC function).
    """

    __slots__ = ("_value", "source")

    MASK = "********"

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self.source = source  # where it came from, e.g. "${env:ORCH_PASSWORD}"; safe to show

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return self.MASK

    def __repr__(self) -> str:
        return f"Secret({self.source or self.MASK})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# --------------------------------------------------------------------------- desired state


@dataclass(frozen=True)
class NtpServerSpec:
    """One NTP server a device should use."""

    address: str
    key_id: int | None = None
    prefer: bool = False
    # Only chrony/ntpd can express a non-standard port; the lab uses it so tests can run
    # servers on ephemeral ports. Drivers of platforms without a port option warn if != 123.
    port: int = 123
    iburst: bool = True
    minpoll: int | None = None
    maxpoll: int | None = None
    nts: bool = False  # Network Time Security (RFC 8915), where the platform has it
    nts_port: int | None = None  # the server's NTS-KE port when not 4460


@dataclass(frozen=True)
class NtpKey:
    """A symmetric NTP key (RFC 5905 legacy MAC; AES128 is CMAC per RFC 8573)."""

    key_id: int
    algorithm: KeyAlgorithm
    secret: Secret
    trusted: bool = True


@dataclass(frozen=True)
class Thresholds:
    """Site policy a device is judged against."""

    max_offset_ms: float = 100.0
    max_stratum: int = 15
    # Minimum number of the last 8 polls that must have been answered
    # (population count of the octal reach register).
    min_reach: int = 1


@dataclass(frozen=True)
class DesiredNtp:
    """The NTP client configuration a host should end up with."""

    servers: tuple[NtpServerSpec, ...]
    source_interface: str | None = None
    vrf: str | None = None
    update_calendar: bool = True
    keys: tuple[NtpKey, ...] = ()
    authenticate: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)
    nts_ca: str | None = None  # PEM certificate(s) NTS clients trust (chrony ntstrustedcerts)

    @property
    def server_addresses(self) -> tuple[str, ...]:
        return tuple(s.address for s in self.servers)


@dataclass(frozen=True)
class Host:
    """One managed device, fully resolved from the inventory (defaults -> groups -> host)."""

    name: str
    hostname: str  # address or DNS name to reach it over SSH
    platform: str  # one of INVENTORY_PLATFORMS
    port: int
    username: str
    password: Secret | None
    site: str
    groups: tuple[str, ...]
    desired: DesiredNtp
    enable_secret: Secret | None = None
    ssh_key_file: str | None = None
    # data.ssh.legacy_algorithms: also offer the SHA-1 key exchanges, ssh-rsa host keys
    # and CBC ciphers old IOS / CatOS / NX-OS need (off by default)
    ssh_legacy_algorithms: bool = False
    # Free-form extras from `data:` that drivers may read (e.g. linux ntp daemon hint,
    # napalm driver name). Never holds secrets.
    data: tuple[tuple[str, str], ...] = ()

    def data_get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.data:
            if k == key:
                return v
        return default


# --------------------------------------------------------------------------- observed state

AssociationState = Literal[
    "sys.peer", "candidate", "outlier", "falseticker", "unreachable", "configured"
]


@dataclass(frozen=True)
class Association:
    """One peer/server association as a device reports it, normalised."""

    address: str
    refid: str | None
    stratum: int | None
    when_s: int | None
    poll_s: int | None
    reach: int | None  # the 8-bit register as an int (decoded from octal where printed so)
    delay_ms: float | None
    offset_ms: float | None
    jitter_ms: float | None  # None where the platform prints dispersion instead
    dispersion_ms: float | None
    selected: bool  # True for the sys.peer (`*`)
    state: AssociationState
    configured: bool


@dataclass(frozen=True)
class NtpStatus:
    """The device's own view of its synchronisation."""

    synchronized: bool
    stratum: int | None
    reference: str | None
    offset_ms: float | None
    root_delay_ms: float | None
    root_dispersion_ms: float | None
    leap: str | None  # "none", "add", "delete", "unsynchronised" or the platform's word
    last_sync: str | None  # as printed; platforms disagree on formats


@dataclass(frozen=True)
class ConfiguredNtp:
    """NTP client configuration as read back from a device (not what it observes)."""

    servers: tuple[NtpServerSpec, ...] = ()
    source_interface: str | None = None
    vrf: str | None = None
    update_calendar: bool | None = None  # None where the platform has no such notion
    authenticate: bool = False
    trusted_keys: tuple[int, ...] = ()
    access_groups: tuple[str, ...] = ()  # raw lines such as "ntp access-group peer 10"
    # the device's `access-list N ...` lines, read when an access group exists (None: not read)
    acl_lines: tuple[str, ...] | None = None
    domain_policy: bool = False  # Windows: a GPO overrides the local peer list


@dataclass(frozen=True)
class DeviceState:
    """Everything read back from one device in one collection."""

    host: str
    platform: str
    configured: ConfiguredNtp
    associations: tuple[Association, ...]
    status: NtpStatus | None
    raw: tuple[tuple[str, str], ...]  # (command, output) pairs: the evidence
    warnings: tuple[str, ...] = ()
    # sources the device authenticates with NTS (chronyc -N authdata); None: it cannot say
    nts_sources: tuple[str, ...] | None = None


# --------------------------------------------------------------------------- verdicts


class Verdict(enum.StrEnum):
    COMPLIANT = "compliant"
    DRIFTING = "drifting"
    UNSYNCHRONISED = "unsynchronised"
    SYNCED_ELSEWHERE = "synced-elsewhere"
    MISCONFIGURED = "misconfigured"
    UNREACHABLE = "unreachable"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Check:
    """One rule applied to one device.

    A check the platform cannot measure (no offset in CatOS `show ntp`, no reach
    register in w32tm) is `measured=False`: it never passes, never fails, and the
    verdict rests on the checks that were measured; `actual` says why it was not.
    """

    name: str
    passed: bool
    expected: str
    actual: str
    measured: bool = True
    # False: the platform cannot do this at all (e.g. NTS on IOS); such a check is also
    # not measured, and the verdict says "not applicable".
    applicable: bool = True

    @property
    def status(self) -> Literal["pass", "fail", "not measured"]:
        if not self.measured:
            return "not measured"
        return "pass" if self.passed else "fail"


@dataclass(frozen=True)
class DeviceVerdict:
    host: str
    site: str
    platform: str
    verdict: Verdict
    reason: str  # one sentence a person can act on
    checks: tuple[Check, ...] = ()
    peer: str | None = None
    offset_ms: float | None = None
    stratum: int | None = None
    reach: int | None = None
    state: DeviceState | None = None  # the evidence; None when the device was unreachable

    @property
    def complies(self) -> bool:
        return self.verdict is Verdict.COMPLIANT


# --------------------------------------------------------------------------- push results


class PushOutcome(enum.StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    INTERRUPTED = "interrupted-restored"  # stopped by a signal mid-change, backup restored
    SKIPPED = "skipped"  # not changed because the run was stopped before its turn
    DRY_RUN = "dry-run"


@dataclass(frozen=True)
class PushResult:
    host: str
    platform: str
    outcome: PushOutcome
    reason: str = ""
    diff: str = ""
    warnings: tuple[str, ...] = ()
    backup_path: str | None = None
    duration_s: float = 0.0
    # Why it failed, for the exit status: "backup" (the data directory could not take the
    # device's backup), "timeout", "busy" (another run held the device); "" otherwise.
    error_kind: str = ""


# --------------------------------------------------------------------------- server client log


@dataclass(frozen=True)
class ClientLogEntry:
    """What our NTP server knows of one client address (persisted for `orch verify`)."""

    address: str
    first_seen: float  # Unix time, seconds
    last_seen: float
    requests: int
    responses: int
    drops: int
    kods: int
    key_id: int | None  # the last key id the client authenticated with, if any
    nts: int = 0  # requests answered with NTS authentication (RFC 8915)
