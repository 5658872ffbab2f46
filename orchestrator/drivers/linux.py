"""Linux: chrony, ntpd (classic or NTPsec) or systemd-timesyncd, detected over SSH.

What orch writes, per daemon (the daemon's own files are otherwise left alone):

* chrony: a file orch owns in the directory chrony.conf reads sources from
  (`sourcedir`, e.g. /etc/chrony/sources.d/orch.sources), then `chronyc reload sources`:
  no restart, so the host never loses its sources. Without a `sourcedir`, a `confdir` or
  `include` directory gets orch.conf instead, or chrony.conf a marked block, and chronyd
  restarts. Keys go in a marked block of the `keyfile`, then `chronyc rekey`.
* ntpd / NTPsec: a marked block in ntp.conf (servers, trustedkey), then a restart; keys in
  a marked block of the file the `keys` directive names.
* systemd-timesyncd: /etc/systemd/timesyncd.conf.d/orch.conf, then a restart.

A plan's `files` are the new contents and its `commands` the exec lines that write them
(commands[i] writes files[i], the content on its stdin); `post_commands` reload the daemon.
A backup is every file orch would touch, byte for byte (None where it did not exist);
restore writes each back exactly (or deletes it) and reloads the daemon. Files travel
base64-encoded, so no shell, terminal or encoding can change a byte. Commands run through
`sudo -n` when the login user is not root.
"""

from __future__ import annotations

import base64
import difflib
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from orchestrator import redact
from orchestrator.drivers.base import ApplyReport, Backup, CommandResult, Plan, Session
from orchestrator.drivers.common import state_from
from orchestrator.errors import CommandRejected, DeviceError, ParseError
from orchestrator.models import (
    Association,
    ConfiguredNtp,
    DesiredNtp,
    DeviceState,
    NtpKey,
    NtpServerSpec,
    NtpStatus,
)
from orchestrator.ntp.auth import parse_key_text
from orchestrator.parsing import parse_output

PLATFORM = "linux"
CHRONY, NTPD, TIMESYNCD = "chrony", "ntpd", "timesyncd"
DAEMONS = (CHRONY, NTPD, TIMESYNCD)
# Host `data:` key that names the daemon when detection should not guess.
DAEMON_HINT = "ntp_daemon"
_HINTS = {"chrony": CHRONY, "chronyd": CHRONY, "ntp": NTPD, "ntpd": NTPD, "ntpsec": NTPD}
_HINTS |= {"timesyncd": TIMESYNCD, "systemd-timesyncd": TIMESYNCD}

BEGIN = "# BEGIN orch managed NTP settings (edits between these lines are overwritten)"
END = "# END orch managed NTP settings"
NTS_CA_NAME = "orch-nts-ca.crt"
CHRONY_AUTHDATA = "chronyc -N authdata"
OWNED_HEADER = "# Managed by orch: the NTP servers of this host. Edits here are overwritten."
TIMESYNCD_DROPIN = "/etc/systemd/timesyncd.conf.d/orch.conf"
CHRONY_CONFS = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
NTPD_CONFS = ("/etc/ntpsec/ntp.conf", "/etc/ntp.conf")
TIMESYNCD_CONF = "/etc/systemd/timesyncd.conf"
_UNITS = ("chrony", "chronyd", "ntpsec", "ntp", "ntpd", "systemd-timesyncd")

# One exec that says what runs, what is installed and who we are.
PROBE_SCRIPT = "; ".join(
    [
        'echo "uid=$(id -u)"',
        'for c in /proc/[0-9]*/comm; do read -r n < "$c" 2>/dev/null && echo "comm=$n"; done'
        " | sort -u | grep -xE 'comm=(chronyd|ntpd|systemd-timesyn)'",
        'for d in /proc/[0-9]*; do if [ "$(cat "$d/comm" 2>/dev/null)" = chronyd ]; then'
        " printf 'chronyd_args='; tr '\\0' ' ' < \"$d/cmdline\"; echo; break; fi; done",
        "for t in chronyc ntpq timedatectl systemctl sudo; do"
        ' command -v "$t" >/dev/null 2>&1 && echo "tool=$t"; done',
        "for f in " + " ".join((*CHRONY_CONFS, *NTPD_CONFS, TIMESYNCD_CONF)) + "; do"
        ' [ -f "$f" ] && echo "file=$f"; done',
        "if command -v systemctl >/dev/null 2>&1; then for u in " + " ".join(_UNITS) + "; do"
        ' systemctl is-active --quiet "$u.service" 2>/dev/null && echo "unit=$u"; done; fi',
        "true",
    ]
)
PROBE = "sh -c " + shlex.quote(PROBE_SCRIPT)  # POSIX sh, whatever the login shell


# ---------------------------------------------------------------------- what is on the host


@dataclass(frozen=True)
class Probe:
    """The facts PROBE printed."""

    uid: int
    running: frozenset[str]  # daemons with a live process
    chronyd_args: tuple[str, ...]
    tools: frozenset[str]
    files: frozenset[str]
    units: frozenset[str]  # active systemd units

    @classmethod
    def parse(cls, text: str) -> Probe:
        values: dict[str, list[str]] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values.setdefault(key.strip(), []).append(value.strip())
        names = {"chronyd": CHRONY, "ntpd": NTPD, "systemd-timesyn": TIMESYNCD}
        uid_text = (values.get("uid") or [""])[0]
        if not uid_text.isdigit():
            raise DeviceError(f"unexpected answer to the NTP daemon probe: {text.strip()[:120]!r}")
        return cls(
            uid=int(uid_text),
            running=frozenset(names[c] for c in values.get("comm", []) if c in names),
            chronyd_args=tuple((values.get("chronyd_args") or [""])[0].split()),
            tools=frozenset(values.get("tool", [])),
            files=frozenset(values.get("file", [])),
            units=frozenset(values.get("unit", [])),
        )

    def daemon(self, hint: str | None = None) -> str:
        """chrony, ntpd or timesyncd: the hint, else what runs, else what is installed."""
        if hint:
            daemon = _HINTS.get(hint.strip().lower())
            if daemon is None:
                raise DeviceError(
                    f"data.{DAEMON_HINT}={hint!r} is not one of {', '.join(sorted(_HINTS))}"
                )
            return daemon
        for daemon in DAEMONS:
            if daemon in self.running:
                return daemon
        if "chronyc" in self.tools and self.files & set(CHRONY_CONFS):
            return CHRONY
        if "ntpq" in self.tools and self.files & set(NTPD_CONFS):
            return NTPD
        if TIMESYNCD_CONF in self.files:
            return TIMESYNCD
        raise DeviceError("no NTP client found (chrony, ntpd or systemd-timesyncd): install chrony")

    def main_conf(self, daemon: str) -> str:
        if daemon == CHRONY:
            args = self.chronyd_args
            if "-f" in args[:-1]:
                return args[args.index("-f") + 1]
            return next((f for f in CHRONY_CONFS if f in self.files), CHRONY_CONFS[0])
        if daemon == NTPD:
            return next((f for f in NTPD_CONFS if f in self.files), NTPD_CONFS[-1])
        return TIMESYNCD_CONF

    def unit(self, daemon: str) -> str:
        """The systemd unit to restart for `daemon` (the active one, else the usual name)."""
        candidates = {
            CHRONY: ("chrony", "chronyd"),
            NTPD: ("ntpsec", "ntp", "ntpd"),
            TIMESYNCD: ("systemd-timesyncd",),
        }[daemon]
        active = [u for u in candidates if u in self.units]
        if active:
            return active[0]
        if daemon == NTPD and "/etc/ntpsec/ntp.conf" not in self.files:
            return "ntp"
        return candidates[0]


@dataclass(frozen=True)
class ManagedFile:
    """A file orch writes: all of it (`whole`), or a marked block inside it."""

    path: str
    whole: bool
    reload: tuple[str, ...]  # commands that make the daemon read this file again
    new_mode: str = "0644"  # for a file orch creates; an existing file keeps its mode


@dataclass(frozen=True)
class Target:
    """Where a host's NTP settings go and how the daemon picks them up."""

    daemon: str
    main_conf: str
    servers: ManagedFile
    keys: ManagedFile | None  # None: the daemon has no keys file configured
    sudo: bool
    # chrony: the CA certificate file NTS trusts, and where `ntstrustedcerts` goes when the
    # servers file cannot hold it (a sources file takes only sources); None: in the servers
    nts_ca: ManagedFile | None = None
    nts_conf: ManagedFile | None = None

    def managed(self) -> tuple[ManagedFile, ...]:
        files = (self.servers, self.keys, self.nts_ca, self.nts_conf)
        return tuple(f for f in files if f is not None)

    def to_extra(self) -> tuple[tuple[str, str], ...]:
        items = [
            ("daemon", self.daemon),
            ("main_conf", self.main_conf),
            ("sudo", "yes" if self.sudo else "no"),
            *_file_extra("servers", self.servers),
        ]
        for prefix, managed in (("keys", self.keys), ("nts_ca", self.nts_ca),
                                ("nts_conf", self.nts_conf)):  # fmt: skip
            if managed is not None:
                items += _file_extra(prefix, managed)
        return tuple(items)

    @classmethod
    def from_extra(cls, extra: Sequence[tuple[str, str]]) -> Target:
        values = dict(extra)
        keys = _file_from_extra("keys", values) if "keys_path" in values else None
        return cls(
            daemon=values["daemon"],
            main_conf=values["main_conf"],
            servers=_file_from_extra("servers", values),
            keys=keys,
            sudo=values["sudo"] == "yes",
            nts_ca=_file_from_extra("nts_ca", values) if "nts_ca_path" in values else None,
            nts_conf=_file_from_extra("nts_conf", values) if "nts_conf_path" in values else None,
        )


def _file_extra(prefix: str, managed: ManagedFile) -> list[tuple[str, str]]:
    return [
        (f"{prefix}_path", managed.path),
        (f"{prefix}_whole", "yes" if managed.whole else "no"),
        (f"{prefix}_reload", "\n".join(managed.reload)),
        (f"{prefix}_mode", managed.new_mode),
    ]


def _file_from_extra(prefix: str, values: Mapping[str, str]) -> ManagedFile:
    reload = values[f"{prefix}_reload"]
    return ManagedFile(
        path=values[f"{prefix}_path"],
        whole=values[f"{prefix}_whole"] == "yes",
        reload=tuple(reload.splitlines()),
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


def chrony_target(probe: Probe, conf_path: str, conf_text: str) -> Target:
    """Pure: where chrony takes orch's sources from, given chrony.conf."""
    restart = (f"systemctl restart {probe.unit(CHRONY)}",)
    # /run/chrony-dhcp and the like hold runtime sources; orch's file must survive a reboot.
    sourcedirs = [d.split()[0] for d in directives(conf_text, "sourcedir")]
    persistent = [d for d in sourcedirs if not d.startswith("/run")]
    confdirs = [d.split()[0] for d in directives(conf_text, "confdir")]
    includes = [
        posixpath.dirname(p.split()[0])
        for p in directives(conf_text, "include")
        if p.split()[0].endswith("*.conf")
    ]
    if persistent:
        servers = ManagedFile(
            posixpath.join(persistent[0], "orch.sources"), True, ("chronyc reload sources",)
        )
    elif confdirs or includes:
        servers = ManagedFile(posixpath.join((confdirs + includes)[0], "orch.conf"), True, restart)
    else:
        servers = ManagedFile(conf_path, False, restart)
    keyfiles = directives(conf_text, "keyfile")
    keys = None
    if keyfiles:
        # chronyd re-reads keys on `rekey` as its own user: group-readable, like Debian's.
        keys = ManagedFile(keyfiles[0].split()[0], False, ("chronyc rekey",), "0640")
    # chronyd reads NTS certificates at start: a changed CA or `ntstrustedcerts` restarts it
    nts_ca = ManagedFile(posixpath.join(posixpath.dirname(conf_path), NTS_CA_NAME), True, restart)
    nts_conf = None
    if servers.path.endswith(".sources"):
        nts_conf = (
            ManagedFile(posixpath.join((confdirs + includes)[0], "orch-nts.conf"), True, restart)
            if confdirs or includes
            else ManagedFile(conf_path, False, restart)
        )
    return Target(CHRONY, conf_path, servers, keys, probe.uid != 0, nts_ca, nts_conf)


def ntpd_target(probe: Probe, conf_path: str, conf_text: str) -> Target:
    """Pure: ntpd's servers go in a block of ntp.conf; keys in a block of its `keys` file."""
    restart = (f"systemctl restart {probe.unit(NTPD)}",)
    keyfiles = directives(conf_text, "keys")
    keys = ManagedFile(keyfiles[0].split()[0], False, restart, "0600") if keyfiles else None
    return Target(NTPD, conf_path, ManagedFile(conf_path, False, restart), keys, probe.uid != 0)


def timesyncd_target(probe: Probe) -> Target:
    restart = (f"systemctl restart {probe.unit(TIMESYNCD)}",)
    dropin = ManagedFile(TIMESYNCD_DROPIN, True, restart)
    return Target(TIMESYNCD, TIMESYNCD_CONF, dropin, None, probe.uid != 0)


# ---------------------------------------------------------------------- rendering (pure)


def server_options(spec: NtpServerSpec, daemon: str) -> str:
    """`server ADDR [port N] [iburst] [prefer] [key N] [minpoll N] [maxpoll N]`."""
    words = ["server", spec.address]
    if spec.port != 123 and daemon == CHRONY:
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
    if spec.nts and daemon == CHRONY:  # RFC 8915; chrony 4.0+
        words.append("nts")
        if spec.nts_port is not None:
            words += ["ntsport", str(spec.nts_port)]
    return " ".join(words)


_CHRONY_KEY_TYPES = {"md5": "MD5", "sha1": "SHA1", "aes128": "AES128"}
# Classic ntpd (4.2.8p11+) names the RFC 8573 MAC AES128CMAC; NTPsec takes the OpenSSL
# cipher name `aes-128` and adds the mode itself (ntp.keys(5) of each).
_NTPD_KEY_TYPES = {"md5": "MD5", "sha1": "SHA1", "aes128": "AES128CMAC"}
_NTPSEC_KEY_TYPES = {"md5": "md5", "sha1": "sha1", "aes128": "aes-128"}


def is_ntpsec(main_conf: str) -> bool:
    return "/ntpsec/" in main_conf


def key_line(key: NtpKey, daemon: str, *, ntpsec: bool = False) -> str:
    """One keys-file line; the key in hexadecimal wherever the format allows."""
    try:
        material = parse_key_text(key.secret.reveal())
    except ValueError as exc:  # the message never holds the key
        raise DeviceError(f"key {key.key_id}: {exc}") from None
    if daemon == CHRONY:
        return f"{key.key_id} {_CHRONY_KEY_TYPES[key.algorithm]} HEX:{material.hex()}"
    # ntpd reads a key of more than 20 characters as hex, else as ASCII: a key of up to
    # 10 octets must be written as its own printable characters.
    text = material.hex() if len(material) > 10 else material.decode("latin-1")
    if len(text) <= 20 and not all(33 <= ord(c) <= 126 and c != "#" for c in text):
        raise DeviceError(f"ntpd cannot express key {key.key_id}: use a longer or printable key")
    types = _NTPSEC_KEY_TYPES if ntpsec else _NTPD_KEY_TYPES
    return f"{key.key_id} {types[key.algorithm]} {text}"


def server_lines(desired: DesiredNtp, daemon: str) -> tuple[list[str], list[str]]:
    """Configuration lines for the servers (and trusted keys), plus warnings."""
    warnings: list[str] = []
    if daemon != CHRONY and any(s.nts for s in desired.servers):
        warnings.append(f"{daemon} gets no NTS from orch (chrony 4.0+ only); servers set without")
    if daemon == TIMESYNCD:
        # timesyncd has no port syntax: `NTP=addr:port` is taken as a name that never
        # resolves (systemd issue #32218), so the port is dropped with a warning.
        for spec in desired.servers:
            if spec.port != 123:
                warnings.append(f"systemd-timesyncd always uses port 123; ignoring {spec.port}")
        if desired.keys or any(s.key_id is not None for s in desired.servers):
            warnings.append("systemd-timesyncd (SNTP) has no authentication; keys not set")
        return ["[Time]", "NTP=" + " ".join(desired.server_addresses)], warnings
    lines = [server_options(s, daemon) for s in desired.servers]
    if daemon != CHRONY and any(s.nts for s in desired.servers):
        warnings.append(
            f"{daemon} gets no NTS from orch (chrony 4.0+ only): servers set without it"
        )
    for spec in desired.servers:
        if spec.port != 123 and daemon == NTPD:
            warnings.append(f"ntpd always uses port 123; ignoring port {spec.port}")
    if daemon == NTPD:
        trusted = sorted(k.key_id for k in desired.keys if k.trusted)
        if trusted:
            lines.append("trustedkey " + " ".join(map(str, trusted)))
    return lines, warnings


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


def _content_of(managed: ManagedFile, old: str | None, body: Sequence[str]) -> str:
    if managed.whole:
        return "\n".join([OWNED_HEADER, *body]) + "\n"
    return replace_block(old or "", body)


def mask(text: str, desired: DesiredNtp) -> str:
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


def _wrap(script: str, sudo: bool) -> str:
    """Run `script` under POSIX sh whatever the login shell, as root."""
    command = "sh -c " + shlex.quote(script)
    return "sudo -n " + command if sudo else command


# ---------------------------------------------------------------------- config read-back (pure)

_OPTION_ARGS = {
    "port", "key", "minpoll", "maxpoll", "polltarget", "maxsources", "version", "ntsport"
}  # fmt: skip


def configured_servers(text: str) -> tuple[NtpServerSpec, ...]:
    """`server`/`pool` lines of a chrony or ntpd configuration as specs (options kept)."""
    specs = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or words[0] not in ("server", "pool", "peer"):
            continue
        options: dict[str, int] = {}
        flags = set()
        rest = words[2:]
        i = 0
        while i < len(rest):
            if rest[i] in _OPTION_ARGS and i + 1 < len(rest):
                value = rest[i + 1]
                if re.fullmatch(r"-?\d+", value):
                    options[rest[i]] = int(value)
                i += 2
            else:
                flags.add(rest[i])
                i += 1
        specs.append(
            NtpServerSpec(
                address=words[1],
                key_id=options.get("key"),
                prefer="prefer" in flags,
                port=options.get("port", 123),
                iburst="iburst" in flags,
                minpoll=options.get("minpoll"),
                maxpoll=options.get("maxpoll"),
                nts="nts" in flags,
                nts_port=options.get("ntsport"),
            )
        )
    return tuple(specs)


_AUTHDATA_ROW = re.compile(r"^(\S+)\s+(\S+)\s+\d+\s+\d+\s+(\d+)\s")


def nts_sources(authdata: str) -> tuple[str, ...] | None:
    """Sources of `chronyc -N authdata` that authenticate with NTS and hold a key (KLen
    > 0); None when the output is no authdata table (chrony < 4.0, chronyc failed)."""
    lines = authdata.splitlines()
    if not any(line.startswith("Name/IP address") and "Mode" in line for line in lines):
        return None
    found = []
    for line in lines:
        m = _AUTHDATA_ROW.match(line)
        if m and m.group(2) == "NTS" and int(m.group(3)) > 0:
            found.append(m.group(1))
    return tuple(found)


def timesyncd_servers(text: str) -> tuple[NtpServerSpec, ...]:
    """`NTP=` of a timesyncd configuration (the last assignment wins, as in systemd)."""
    value: list[str] = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped
        elif section == "[Time]" and stripped.startswith("NTP="):
            value = stripped[4:].split()
    return tuple(NtpServerSpec(address=a, iburst=False) for a in value)


# ---------------------------------------------------------------------- the driver

CHRONY_SOURCES = "chronyc -n sources"
CHRONY_TRACKING = "chronyc -n tracking"
NTPQ = "ntpq -pn"
TIMEDATECTL = "timedatectl"
TIMESYNC_STATUS = "timedatectl timesync-status"
SHOW_TIMESYNC = "timedatectl show-timesync"
_STATE_COMMANDS = {
    CHRONY: (CHRONY_SOURCES, CHRONY_TRACKING),
    NTPD: (NTPQ,),
    TIMESYNCD: (TIMESYNC_STATUS, SHOW_TIMESYNC, TIMEDATECTL),  # most detailed first
}
_CAT = "cat "
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


class LinuxDriver:
    platform = PLATFORM

    # ------------------------------------------------------------------ I/O

    def detect(self, session: Session) -> tuple[Target, str | None]:
        """Detect the daemon and where its configuration goes (two execs); also returns
        the main configuration file's text (None when it does not exist)."""
        probe = Probe.parse(self._run(session, PROBE, sudo=False).output)
        if probe.uid != 0 and "sudo" not in probe.tools:
            raise DeviceError(
                f"{session.host.name}: {session.host.username} is not root and there is no "
                "sudo; orch needs one of them to change the NTP configuration"
            )
        daemon = probe.daemon(session.host.data_get(DAEMON_HINT))
        conf = probe.main_conf(daemon)
        conf_text = self._read(session, conf, sudo=probe.uid != 0)
        if daemon == TIMESYNCD:
            return timesyncd_target(probe), conf_text
        if daemon == CHRONY:
            return chrony_target(probe, conf, conf_text or ""), conf_text
        return ntpd_target(probe, conf, conf_text or ""), conf_text

    def collect(self, session: Session) -> Mapping[str, str]:
        target, conf_text = self.detect(session)
        raw = {_CAT + target.main_conf: conf_text or ""}
        if target.servers.path != target.main_conf:
            text = self._read(session, target.servers.path, sudo=target.sudo)
            raw[_CAT + target.servers.path] = text or ""
        extra = (CHRONY_AUTHDATA,) if target.daemon == CHRONY else ()  # which sources use NTS
        for command in _STATE_COMMANDS[target.daemon] + extra:
            result = self._run(session, command, sudo=target.sudo and command.startswith("chronyc"))
            raw[command] = result.output if result.ok else (result.output + result.stderr)
        return raw

    def backup(self, session: Session) -> Backup:
        target, conf_text = self.detect(session)
        known = {target.main_conf: conf_text}
        files: list[tuple[str, str | None]] = []
        for managed in target.managed():
            if managed.path not in known:
                known[managed.path] = self._read(session, managed.path, target.sudo)
            if managed.path not in (f[0] for f in files):
                files.append((managed.path, known[managed.path]))
        # The main configuration rides along (not restored: orch does not change it outside
        # its block) so that render can warn about sources orch does not manage.
        conf = (_CAT + target.main_conf, conf_text or "")
        return Backup(
            host=session.host.name,
            platform=PLATFORM,
            files=tuple(files),
            extra=(*target.to_extra(), conf),
        )

    def apply(self, session: Session, plan: Plan) -> ApplyReport:
        # commands[i] writes files[i], whose content goes on its stdin.
        applied: list[str] = []
        for (path, content), command in zip(plan.files, plan.commands, strict=True):
            result = session.run(command, stdin=encode_file(content))
            if not result.ok:
                raise _rejected(session, f"cannot write {path}", result)
            applied.append(f"wrote {path}")
        for command in plan.post_commands:
            self._check(session, command)
            applied.append(command)
        return ApplyReport(applied=tuple(applied))

    def restore(self, session: Session, backup: Backup) -> None:
        target = Target.from_extra(backup.extra)
        reloads: list[str] = []
        managed = {m.path: m for m in reversed(target.managed())}
        # NTS files are backed up whether a push uses them or not: a file unchanged since the
        # backup is not rewritten (a rewrite would restart chronyd for nothing)
        for path, content in backup.files:
            if self._read(session, path, target.sudo) == content:
                continue  # unchanged since the backup: no write, no reload or restart
            if content is None:
                self._check(session, _wrap(delete_file_command(path), target.sudo))
            else:
                self._write(session, managed[path], content, target.sudo)
            reloads += [r for r in managed[path].reload if r not in reloads]
        for command in _ordered(reloads):
            self._check(session, _wrap(command, target.sudo))

    # ------------------------------------------------------------------ pure

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        target = Target.from_extra(backup.extra)
        before = dict(backup.files)
        body, warnings = server_lines(desired, target.daemon)
        wanted: list[tuple[ManagedFile, list[str]]] = [(target.servers, body)]
        if target.nts_ca is not None:  # chrony: the CA file and `ntstrustedcerts` naming it
            nts = desired.nts_ca is not None and any(s.nts for s in desired.servers)
            trust = [f"ntstrustedcerts {target.nts_ca.path}"] if nts else []
            if nts or before.get(target.nts_ca.path) is not None:
                wanted.append((target.nts_ca, (desired.nts_ca or "").splitlines() if nts else []))
            if target.nts_conf is None:
                body += trust
            elif trust or before.get(target.nts_conf.path) is not None:
                wanted.append((target.nts_conf, trust))
        if target.daemon != TIMESYNCD:
            ntpsec = is_ntpsec(target.main_conf)
            key_lines = [key_line(k, target.daemon, ntpsec=ntpsec) for k in desired.keys]
            if target.keys is not None:
                # Keys first: a server line must never name a key not yet written.
                wanted.insert(0, (target.keys, key_lines))
            elif key_lines:
                warnings.append(
                    f"{target.main_conf} names no keys file; NTP keys were not installed"
                )
        files: list[tuple[str, str]] = []
        writes: list[str] = []
        reloads: list[str] = []
        diffs: list[str] = []
        for managed, lines in wanted:
            old = before.get(managed.path)
            new = _content_of(managed, old, lines)
            if new != (old or ""):
                files.append((managed.path, new))
                writes.append(
                    _wrap(write_file_command(managed.path, managed.new_mode), target.sudo)
                )
                reloads += [r for r in managed.reload if r not in reloads]
                diffs.append(file_diff(backup.host, managed.path, old, new))
        warnings += unmanaged_sources_warnings(current, target, desired)
        return Plan(
            host=backup.host,
            platform=PLATFORM,
            commands=tuple(writes),
            files=tuple(files),
            post_commands=tuple(_wrap(c, target.sudo) for c in _ordered(reloads)),
            diff=mask("".join(diffs), desired),
            warnings=tuple(warnings),
        )

    def current(self, backup: Backup) -> DeviceState:
        """The configuration a backup shows (what push compares against)."""
        target = Target.from_extra(backup.extra)
        raw = {k: v for k, v in backup.extra if k.startswith(_CAT)}
        raw |= {_CAT + path: text or "" for path, text in backup.files}
        return state_from(backup.host, PLATFORM, _configured(target.daemon, raw), raw)

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        daemon = next((d for d in DAEMONS if _STATE_COMMANDS[d][0] in raw), None)
        if daemon is None:
            raise ParseError(
                f"{host}: no chronyc, ntpq or timedatectl output to parse",
                platform=PLATFORM,
            )
        associations: tuple[Association, ...] = ()
        statuses: list[NtpStatus] = []
        for command in _STATE_COMMANDS[daemon]:
            down = daemon_down(raw[command])
            if down is not None:
                # The daemon is not running or not answering: a state, not unreadable output.
                return state_from(
                    host,
                    PLATFORM,
                    _configured(daemon, raw),
                    raw,
                    (f"the {daemon} daemon does not answer: `{command}` said {down!r}",),
                    status=NtpStatus(False, None, None, None, None, None, None, None),
                )
            parsed = parse_output(PLATFORM, command, raw[command])
            associations = parsed.associations or associations
            statuses += [parsed.status] if parsed.status is not None else []
        status = merge_statuses(statuses) if statuses else status_from_peer(associations)
        state = state_from(
            host, PLATFORM, _configured(daemon, raw), raw, associations=associations, status=status
        )
        if CHRONY_AUTHDATA in raw:
            return replace(state, nts_sources=nts_sources(raw[CHRONY_AUTHDATA]))
        return state

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _run(
        session: Session, command: str, *, sudo: bool, stdin: str | None = None
    ) -> CommandResult:
        return session.run(_wrap(command, sudo) if sudo else command, stdin=stdin)

    def _read(self, session: Session, path: str, sudo: bool) -> str | None:
        result = session.run(_wrap(read_file_command(path), sudo))
        if not result.ok:
            raise _rejected(session, f"cannot read {path}", result)
        return decode_file(result.output)

    def _write(self, session: Session, managed: ManagedFile, content: str, sudo: bool) -> None:
        command = _wrap(write_file_command(managed.path, managed.new_mode), sudo)
        result = session.run(command, stdin=encode_file(content))
        if not result.ok:
            raise _rejected(session, f"cannot write {managed.path}", result)

    @staticmethod
    def _check(session: Session, command: str) -> None:
        result = session.run(command)
        if not result.ok:
            raise _rejected(session, f"{command!r} exited {result.exit_status}", result)


def _rejected(session: Session, what: str, result: CommandResult) -> CommandRejected:
    detail = (result.stderr or result.output).strip()[:200]
    return CommandRejected(
        f"{session.host.name}: {what}: {detail}", command=result.command, output=result.output
    )


def _ordered(reloads: Sequence[str]) -> list[str]:
    """Keys before sources (a source may name a new key); restarts do both, once."""
    restarts = [r for r in reloads if r.startswith("systemctl restart")]
    if restarts:
        return list(dict.fromkeys(restarts))
    return sorted(reloads, key=lambda r: r != "chronyc rekey")


def _configured(daemon: str, raw: Mapping[str, str]) -> ConfiguredNtp:
    texts = [text for command, text in raw.items() if command.startswith(_CAT)]
    if daemon == TIMESYNCD:
        servers: tuple[NtpServerSpec, ...] = ()
        for text in texts:
            servers = timesyncd_servers(text) or servers
        return ConfiguredNtp(servers=servers)
    specs: dict[tuple[str, int], NtpServerSpec] = {}
    trusted: list[int] = []
    for text in texts:
        for spec in configured_servers(text):
            specs.setdefault((spec.address, spec.port), spec)
        for value in directives(text, "trustedkey"):
            trusted += [int(w) for w in value.split() if w.isdigit()]
    keyed = any(s.key_id is not None for s in specs.values())
    return ConfiguredNtp(
        servers=tuple(specs.values()),
        authenticate=keyed,
        trusted_keys=tuple(sorted(set(trusted))),
    )


def unmanaged_sources_warnings(
    current: DeviceState, target: Target, desired: DesiredNtp
) -> list[str]:
    """Sources configured outside orch's file or block, which orch leaves alone."""
    outside: list[str] = []
    for command, text in current.raw:
        path = command[len(_CAT) :]
        if not command.startswith(_CAT) or (path == target.servers.path and target.servers.whole):
            continue
        rest = replace_block(text, [])
        specs = timesyncd_servers(rest) if target.daemon == TIMESYNCD else configured_servers(rest)
        outside += [s.address for s in specs if s.address not in outside]
    wanted = set(desired.server_addresses)
    others = [a for a in outside if a not in wanted]
    duplicates = [a for a in outside if a in wanted]
    warnings = []
    if others:
        warnings.append(
            f"{target.main_conf} also configures {', '.join(others)} outside orch's settings; "
            "the host may select those instead"
        )
    if duplicates and target.daemon != TIMESYNCD:
        warnings.append(
            f"{target.main_conf} already configures {', '.join(duplicates)} outside orch's "
            "settings; the daemon keeps that entry and ignores orch's options for it"
        )
    return warnings


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
