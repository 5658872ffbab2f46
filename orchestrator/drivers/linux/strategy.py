"""One strategy per time daemon behind one interface: where its settings go (detection),
what it should read (render), how it picks them up (apply: reload commands), what to ask
it (collect) and what its answers mean (parse).

A Target is the detected placement, carried in a Backup's `extra` from backup to render
and restore. Reading the configured servers back goes through the parser templates
(parsers/linux_cat_*.textfsm), like every other platform's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from orchestrator.drivers.common import parse_config
from orchestrator.drivers.linux.files import PRIVILEGES, ManagedFile, replace_block
from orchestrator.drivers.linux.probe import Probe
from orchestrator.errors import ParseError
from orchestrator.models import (
    Association,
    ConfiguredNtp,
    DesiredNtp,
    NtpServerSpec,
    NtpStatus,
)
from orchestrator.parsing import parse_output

PLATFORM = "linux"
CAT = "cat "


@dataclass(frozen=True)
class Target:
    """Where a host's NTP settings go and how the daemon picks them up."""

    daemon: str
    main_conf: str
    servers: ManagedFile
    keys: ManagedFile | None  # None: the daemon has no keys file configured
    privilege: str  # files.AS_ROOT, SUDO or SUDO_PASSWORD
    # chrony: the CA certificate file NTS trusts, and where `ntstrustedcerts` goes when the
    # servers file cannot hold it (a sources file takes only sources); None: in the servers
    nts_ca: ManagedFile | None = None
    nts_conf: ManagedFile | None = None

    @property
    def files(self) -> tuple[ManagedFile, ...]:
        """Every file orch manages on the host, each path once (the first placement wins)."""
        found: dict[str, ManagedFile] = {}
        for managed in (self.servers, self.keys, self.nts_ca, self.nts_conf):
            if managed is not None:
                found.setdefault(managed.path, managed)
        return tuple(found.values())

    def to_extra(self) -> tuple[tuple[str, str], ...]:
        items = [
            ("daemon", self.daemon),
            ("main_conf", self.main_conf),
            ("privilege", self.privilege),
            *_file_extra("servers", self.servers),
        ]
        for prefix, managed in (
            ("keys", self.keys),
            ("nts_ca", self.nts_ca),
            ("nts_conf", self.nts_conf),
        ):
            if managed is not None:
                items += _file_extra(prefix, managed)
        return tuple(items)

    @classmethod
    def from_extra(cls, extra: Sequence[tuple[str, str]]) -> Target:
        values = dict(extra)
        keys, nts_ca, nts_conf = (
            _file_from_extra(prefix, values) if f"{prefix}_path" in values else None
            for prefix in ("keys", "nts_ca", "nts_conf")
        )
        privilege = values.get("privilege", "no")
        if privilege not in PRIVILEGES:
            raise ValueError(f"unknown privilege {privilege!r} in a Linux backup")
        return cls(
            daemon=values["daemon"],
            main_conf=values["main_conf"],
            servers=_file_from_extra("servers", values),
            keys=keys,
            privilege=privilege,
            nts_ca=nts_ca,
            nts_conf=nts_conf,
        )


def _file_extra(prefix: str, managed: ManagedFile) -> list[tuple[str, str]]:
    return [
        (f"{prefix}_path", managed.path),
        (f"{prefix}_whole", "yes" if managed.whole else "no"),
        (f"{prefix}_reload", "\n".join(managed.reload)),
        (f"{prefix}_mode", managed.new_mode),
    ]


def _file_from_extra(prefix: str, values: Mapping[str, str]) -> ManagedFile:
    return ManagedFile(
        path=values[f"{prefix}_path"],
        whole=values[f"{prefix}_whole"] == "yes",
        reload=tuple(values[f"{prefix}_reload"].splitlines()),
        new_mode=values.get(f"{prefix}_mode", "0644"),
    )


def directives(text: str, name: str) -> list[str]:
    """The arguments of every `name ...` line of a chrony/ntpd configuration."""
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == name:
            found.append(" ".join(words[1:]))
    return found


def configured_in(path: str, text: str) -> ConfiguredNtp:
    """The NTP sources one configuration file names, through its parser template."""
    try:
        return parse_config(PLATFORM, CAT + path, text)
    except ParseError:  # no NTP directive at all in the file (only comments, say)
        return ConfiguredNtp()


# What the query tools print when their daemon is not running or not answering.
_DAEMON_DOWN = (
    "506 Cannot talk to daemon",  # chronyc
    "timed out, nothing received",  # ntpq
    "Connection refused",  # ntpq
    "Failed to query server",  # timedatectl timesync-status without timesyncd
    "Failed to connect to bus",  # timedatectl without systemd
)


def daemon_down(output: str) -> str | None:
    """The tool's complaint when `output` says the daemon did not answer, else None."""
    for line in output.splitlines():
        if any(marker in line for marker in _DAEMON_DOWN):
            return line.strip()
    return None


class DaemonStrategy:
    """What differs between time daemons. Subclasses set the class attributes and
    implement `target` and `render_lines`; the rest has shared defaults."""

    name: ClassVar[str]
    hints: ClassVar[tuple[str, ...]]  # names an inventory's data.ntp_daemon may use
    process: ClassVar[str]  # /proc/PID/comm of the running daemon
    tool: ClassVar[str | None]  # the query tool whose presence says "installed"
    conf_files: ClassVar[tuple[str, ...]]  # main configuration, most usual first
    units: ClassVar[tuple[str, ...]]  # systemd unit names, most usual first
    state_commands: ClassVar[tuple[str, ...]]  # collect, most detailed first
    state_needs_root: ClassVar[bool] = False
    # asked as well when collecting, read by `nts_sources` rather than a parser template
    extra_commands: ClassVar[tuple[str, ...]] = ()
    # Whether a source configured outside orch's lines also shadows orch's options.
    warns_duplicates: ClassVar[bool] = True

    # ------------------------------------------------------------------ detection

    def runs(self, probe: Probe) -> bool:
        return self.process in probe.running

    def installed(self, probe: Probe) -> bool:
        has_tool = self.tool is None or self.tool in probe.tools
        return has_tool and bool(probe.files & set(self.conf_files))

    def main_conf(self, probe: Probe) -> str:
        return probe.first_file(self.conf_files, self.conf_files[0])

    def unit(self, probe: Probe) -> str:
        """The systemd unit to restart (the active one, else the usual name)."""
        return next((u for u in self.units if u in probe.units), self.units[0])

    def restart(self, probe: Probe) -> tuple[str, ...]:
        return (f"systemctl restart {self.unit(probe)}",)

    def target(self, probe: Probe, conf_path: str, conf_text: str, privilege: str) -> Target:
        raise NotImplementedError

    # ------------------------------------------------------------------ render (pure)

    def render_lines(
        self,
        desired: DesiredNtp,
        target: Target,
        conf_text: str = "",
        backup: Mapping[str, str | None] | None = None,
    ) -> tuple[list[tuple[ManagedFile, list[str]]], list[str]]:
        """orch's lines for each file it manages, in the order to write them (given the
        main configuration's text and the backed-up files by path), plus warnings."""
        raise NotImplementedError

    def order_reloads(self, reloads: Sequence[str]) -> list[str]:
        """The reload commands in the order they must run; restarts do everything, once."""
        restarts = [r for r in reloads if r.startswith("systemctl restart")]
        return list(dict.fromkeys(restarts or reloads))

    # ------------------------------------------------------------------ parse (pure)

    def configured(self, files: Mapping[str, str]) -> ConfiguredNtp:
        """The sources all of the daemon's files name together (first mention wins)."""
        specs: dict[tuple[str, int], NtpServerSpec] = {}
        trusted: set[int] = set()
        for path, text in files.items():
            config = configured_in(path, text)
            for spec in config.servers:
                specs.setdefault((spec.address, spec.port), spec)
            trusted.update(config.trusted_keys)
        return ConfiguredNtp(
            servers=tuple(specs.values()),
            authenticate=any(s.key_id is not None for s in specs.values()),
            trusted_keys=tuple(sorted(trusted)),
        )

    def outside_orch(self, path: str, text: str) -> tuple[NtpServerSpec, ...]:
        """Sources a file names outside orch's marked block."""
        return configured_in(path, replace_block(text, [])).servers

    def parse_state(
        self, raw: Mapping[str, str]
    ) -> tuple[tuple[Association, ...], NtpStatus | None]:
        associations: tuple[Association, ...] = ()
        statuses: list[NtpStatus] = []
        for command in self.state_commands:
            parsed = parse_output(PLATFORM, command, raw[command])
            associations = parsed.associations or associations
            statuses += [parsed.status] if parsed.status is not None else []
        status = merge_statuses(statuses) if statuses else status_from_peer(associations)
        return associations, status

    def nts_sources(self, raw: Mapping[str, str]) -> tuple[str, ...] | None:
        """The sources the daemon authenticates with NTS; None: it cannot tell (no NTS)."""
        del raw
        return None


def keys_file_lines(
    target: Target, key_lines: list[str]
) -> tuple[list[tuple[ManagedFile, list[str]]], list[str]]:
    """The keys file and its lines, to write before the servers (add before remove: a
    server line must never name a key not yet written); or the warning that there is none."""
    if target.keys is not None:
        return [(target.keys, key_lines)], []
    if key_lines:
        return [], [f"{target.main_conf} names no keys file; NTP keys were not installed"]
    return [], []


def no_nts_warnings(daemon: str, desired: DesiredNtp) -> list[str]:
    """The warning for a daemon orch sets no NTS on, when a desired server asks for it."""
    if any(s.nts for s in desired.servers):
        return [f"{daemon} gets no NTS from orch (chrony 4.0+ only): servers set without it"]
    return []


def merge_statuses(statuses: Sequence[NtpStatus]) -> NtpStatus:
    """One status from several views of it (timesyncd has three): each field from the first
    view that has it; synchronised only if every view says so."""
    first = statuses[0]
    fields = {
        name: next((v for s in statuses if (v := getattr(s, name)) is not None), None)
        for name in (
            "stratum",
            "reference",
            "offset_ms",
            "root_delay_ms",
            "root_dispersion_ms",
            "leap",
            "last_sync",
        )
    }
    return replace(first, synchronized=all(s.synchronized for s in statuses), **fields)


def status_from_peer(associations: Sequence[Association]) -> NtpStatus | None:
    """ntpd's `ntpq -pn` has no system status line: its sys.peer (`*`) is what ntpd
    follows, so the host is synchronised to it, one stratum below, at its offset."""
    if not associations:
        return None
    peer = next((a for a in associations if a.selected), None)
    if peer is None:
        return NtpStatus(False, None, None, None, None, None, None, None)
    stratum = peer.stratum + 1 if peer.stratum is not None else None
    return NtpStatus(True, stratum, peer.address, peer.offset_ms, None, None, None, None)


def server_line(spec: NtpServerSpec, *, port: bool, extra: Sequence[str] = ()) -> str:
    """`server ADDR [port N] [iburst] [prefer] [key N] [minpoll N] [maxpoll N] [extra...]`.
    `extra` is where a strategy adds its own per-server options."""
    words = ["server", spec.address]
    if port and spec.port != 123:
        words += ["port", str(spec.port)]
    if spec.iburst:
        words.append("iburst")
    if spec.prefer:
        words.append("prefer")
    if spec.key_id is not None:
        words += ["key", str(spec.key_id)]
    if spec.minpoll is not None:
        words += ["minpoll", str(spec.minpoll)]
    if spec.maxpoll is not None:
        words += ["maxpoll", str(spec.maxpoll)]
    return " ".join([*words, *extra])
