"""Cisco IOS / IOS-XE: `ntp ...` global configuration over netmiko.

Config read: `show running-config | include ^ntp`. The plan is the difference between
those lines and the desired ones: missing `ntp server` lines are added, stale ones
removed with `no ntp server`, keys / trusted keys / `ntp authenticate` / `ntp source` /
`ntp update-calendar` brought in line. Semantics come from the parser
(orchestrator.parsing); the raw lines give each line's identity (what `no` removes) and
the key values (which the parser deliberately never captures).

`ntp update-calendar` is sent last and on its own: on switches without a hardware
calendar (Catalyst 2960, 3750-X) it answers `% Invalid input`, which is a warning.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from orchestrator.drivers.base import ApplyReport, Backup, Plan, Session
from orchestrator.drivers.common import (
    parse_config,
    raw_of,
    restore_steps,
    state_from,
    unified_diff,
)
from orchestrator.errors import CommandRejected
from orchestrator.ios_acl import access_groups, peer_access
from orchestrator.models import (
    Association,
    ConfiguredNtp,
    DesiredNtp,
    DeviceState,
    NtpServerSpec,
    NtpStatus,
)
from orchestrator.parsing import parse_output
from orchestrator.redact import MASK, key_secrets, redact_text
from orchestrator.type7 import decode_type7

PLATFORM = "cisco_ios"
SHOW_NTP_CONFIG = "show running-config | include ^ntp"
SHOW_NTP_STARTUP = "show startup-config | include ^ntp"
SHOW_ACLS = "show running-config | include ^access-list"
SHOW_ASSOCIATIONS = "show ntp associations"
SHOW_STATUS = "show ntp status"
UPDATE_CALENDAR = "ntp update-calendar"
KEY_ALGORITHMS = {"md5": "md5", "sha1": "sha1", "aes128": "cmac-aes-128"}

# --------------------------------------------------------------------------- line identity


def _tokens(line: str) -> list[str]:
    return line.split()


def removal_of(line: str) -> str:
    """The `no` command that removes one running-config `ntp` line."""
    t = _tokens(line)
    if len(t) >= 3 and t[1] in ("server", "peer"):
        i = 2
        if t[i] == "vrf" and len(t) > i + 2:
            i += 2
        if t[i] in ("ip", "ipv6") and len(t) > i + 1:
            i += 1
        return "no " + " ".join(t[: i + 1])
    if len(t) >= 3 and t[1] == "authentication-key":
        return f"no ntp authentication-key {t[2]}"
    if len(t) >= 2 and t[1] == "source":
        return "no ntp source"
    return "no " + line.strip()


def _server_address(line: str) -> str | None:
    t = _tokens(line)
    if len(t) < 3 or t[1] != "server":
        return None
    return removal_of(line).split()[-1]


@dataclass(frozen=True)
class _Key:
    key_id: int
    algorithm: str
    value: str  # clear text
    line: str


def _keys_in(lines: Sequence[str]) -> dict[int, _Key]:
    """`ntp authentication-key N ALG VALUE [7]` lines, values decoded."""
    keys: dict[int, _Key] = {}
    for line in lines:
        t = _tokens(line)
        if len(t) < 5 or t[1] != "authentication-key" or not t[2].isdigit():
            continue
        value = t[4]
        if len(t) >= 6 and t[5] == "7":
            with contextlib.suppress(ValueError):
                value = decode_type7(value)
        keys[int(t[2])] = _Key(int(t[2]), t[3], value, line)
    return keys


def mask_key_lines(lines: Sequence[str]) -> list[str]:
    """Lines with key values replaced by the mask (type-7 values are reversible)."""
    out = []
    for line in lines:
        t = _tokens(line)
        if len(t) >= 5 and t[1] == "authentication-key":
            t[4] = MASK
            line = " ".join(t)
        out.append(line)
    return out


# --------------------------------------------------------------------------- desired lines


def server_line(spec: NtpServerSpec, vrf: str | None) -> str:
    """One `ntp server` line in the order IOS prints its options."""
    parts = ["ntp server"]
    if vrf:
        parts += ["vrf", vrf]
    parts.append(spec.address)
    if spec.iburst:
        parts.append("iburst")
    if spec.key_id is not None:
        parts.append(f"key {spec.key_id}")
    if spec.minpoll is not None:
        parts.append(f"minpoll {spec.minpoll}")
    if spec.maxpoll is not None:
        parts.append(f"maxpoll {spec.maxpoll}")
    if spec.prefer:
        parts.append("prefer")
    return " ".join(parts)


def _same_server(a: NtpServerSpec, b: NtpServerSpec) -> bool:
    return (a.key_id, a.prefer, a.iburst, a.minpoll, a.maxpoll) == (
        b.key_id,
        b.prefer,
        b.iburst,
        b.minpoll,
        b.maxpoll,
    )


# --------------------------------------------------------------------------- access-group


def _has_access_group(config_text: str) -> bool:
    return any(ln.strip().startswith("ntp access-group") for ln in config_text.splitlines())


def _acl_lines(text: str) -> tuple[str, ...]:
    """The `access-list` lines of `show running-config | include ^access-list` (the prompt
    and echo lines of the capture dropped)."""
    return tuple(ln.strip() for ln in text.splitlines() if ln.strip().startswith("access-list "))


def access_group_warnings(
    configured: ConfiguredNtp, desired: DesiredNtp, acl_lines: Sequence[str] | None
) -> tuple[str, ...]:
    """Warn when an `ntp access-group` keeps the device from syncing to our servers."""
    groups = access_groups(configured.access_groups)
    if not groups.any:
        return ()
    warnings = []
    for server in desired.server_addresses:
        permitted = peer_access(groups, server, acl_lines)
        if permitted is True:
            continue
        if not groups.peer_acls:
            warnings.append(
                f"'{groups.lines[0]}' blocks syncing to {server}: only a 'peer' access-group "
                "lets the device synchronise"
            )
        elif permitted is False:
            acl = groups.peer_acls[0]
            warnings.append(
                f"'ntp access-group peer {acl}' blocks {server}: ACL {acl} "
                "does not permit it, so the device will never sync"
            )
        else:
            warnings.append(
                f"'ntp access-group peer {groups.peer_acls[0]}' may block {server}: check that "
                "the ACL permits it"
            )
    return tuple(warnings)


# --------------------------------------------------------------------------- the driver


class CiscoIosDriver:
    platform = PLATFORM

    def collect(self, session: Session) -> Mapping[str, str]:
        raw = {SHOW_NTP_CONFIG: session.run(SHOW_NTP_CONFIG).output}
        if _has_access_group(raw[SHOW_NTP_CONFIG]):  # the ACLs decide what it blocks
            raw[SHOW_ACLS] = session.run(SHOW_ACLS).output
        for cmd in (SHOW_ASSOCIATIONS, SHOW_STATUS):
            raw[cmd] = session.run(cmd).output
        return raw

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        configured = parse_config(PLATFORM, SHOW_NTP_CONFIG, raw.get(SHOW_NTP_CONFIG, ""))
        if SHOW_ACLS in raw:
            configured = replace(configured, acl_lines=_acl_lines(raw[SHOW_ACLS]))
        associations: tuple[Association, ...] = ()
        status: NtpStatus | None = None
        if raw.get(SHOW_ASSOCIATIONS, "").strip():
            associations = (
                parse_output(PLATFORM, SHOW_ASSOCIATIONS, raw[SHOW_ASSOCIATIONS]).associations or ()
            )
        if raw.get(SHOW_STATUS, "").strip():
            status = parse_output(PLATFORM, SHOW_STATUS, raw[SHOW_STATUS]).status
        return state_from(host, PLATFORM, configured, raw, associations=associations, status=status)

    def backup(self, session: Session) -> Backup:
        text = session.run(SHOW_NTP_CONFIG).output
        lines = _ntp_lines(text)
        raw: list[tuple[str, str]] = [(SHOW_NTP_CONFIG, text)]
        if _has_access_group(text):
            raw.append((SHOW_ACLS, session.run(SHOW_ACLS).output))
        return Backup(
            host=session.host.name, platform=PLATFORM, config_lines=lines, extra=tuple(raw)
        )

    def current(self, backup: Backup) -> DeviceState:
        """The configuration state a backup shows (push reads nothing else)."""
        raw = raw_of(backup)
        return state_from(
            backup.host,
            PLATFORM,
            parse_config(PLATFORM, SHOW_NTP_CONFIG, raw.get(SHOW_NTP_CONFIG, "")),
            raw,
        )

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        cfg = current.configured
        lines = list(backup.config_lines)
        change = _Change()
        _plan_keys(desired, cfg, lines, change)  # keys first: server lines may name them
        _plan_servers(desired, cfg, lines, change)
        _plan_globals(desired, cfg, lines, change)
        acls = raw_of(backup).get(SHOW_ACLS)
        acl_lines = None if acls is None else _acl_lines(acls)
        change.warnings.extend(access_group_warnings(cfg, desired, acl_lines))

        after = [ln for ln in lines if ln not in change.dropped]
        after += [a for a in change.additions if a not in lines]
        diff = unified_diff(backup.host, mask_key_lines(lines), mask_key_lines(after))
        return Plan(
            host=backup.host,
            platform=PLATFORM,
            commands=change.commands(),
            diff=redact_text(diff, key_secrets(desired)),
            warnings=tuple(change.warnings),
        )

    def apply(self, session: Session, plan: Plan) -> ApplyReport:
        """One configuration block; `ntp update-calendar` comes last, so when it is the
        line refused (no hardware calendar) everything before it was accepted."""
        try:
            session.configure(plan.commands)
        except CommandRejected as exc:
            if exc.command != UPDATE_CALENDAR:
                raise
            skipped: tuple[str, ...] = (UPDATE_CALENDAR,)
            warnings: tuple[str, ...] = (
                "'ntp update-calendar' is not supported here (no hardware calendar); skipped",
            )
        else:
            skipped = warnings = ()
        session.save()
        applied = tuple(c for c in plan.commands if c not in skipped)
        return ApplyReport(applied=applied, warnings=warnings, skipped=skipped)

    def restore(self, session: Session, backup: Backup) -> None:
        """Put the backup's lines back, adding before removing; save only if the change had
        been saved (the startup configuration holds it), so that a refused change never
        reaches it."""
        now = self.backup(session)
        commands = restore_commands(now.config_lines, backup.config_lines)
        if commands:
            startup = _ntp_lines(session.run(SHOW_NTP_STARTUP).output)
            session.configure(commands)
            if startup == now.config_lines:
                session.save()


def _ntp_lines(text: str) -> tuple[str, ...]:
    return tuple(ln.rstrip() for ln in text.splitlines() if ln.startswith("ntp "))


def restore_commands(now: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """From the running `ntp` lines `now` back to exactly `wanted`: missing lines first
    (IOS replaces a server line of the same address in place), then lines out of order,
    then the lines that are not wanted; the device never has fewer servers than before."""
    return restore_steps(now, wanted, identity=removal_of, ordered=_is_server)


def _is_server(line: str) -> bool:
    return _server_address(line) is not None


# --------------------------------------------------------------------------- planning


@dataclass
class _Change:
    removals: list[str] = field(default_factory=list)  # `no` commands
    replaced: list[str] = field(default_factory=list)  # `no` of trusted-key ranges re-entered
    additions: list[str] = field(default_factory=list)  # lines to enter
    dropped: set[str] = field(default_factory=set)  # current lines that go away
    warnings: list[str] = field(default_factory=list)

    def commands(self) -> tuple[str, ...]:
        """Additions before removals, so the device is never left without a server (a
        changed server line is re-entered over itself); only a trusted-key range that
        must be narrowed is removed first. update-calendar is last, so that its refusal
        on a device without a calendar comes after the rest."""
        body = [a for a in self.additions if a != UPDATE_CALENDAR]
        tail = [UPDATE_CALENDAR] if UPDATE_CALENDAR in self.additions else []
        return (*self.replaced, *body, *self.removals, *tail)


def _plan_keys(desired: DesiredNtp, cfg: ConfiguredNtp, lines: list[str], ch: _Change) -> None:
    have_keys = _keys_in(lines)
    want_keys = {k.key_id: k for k in desired.keys}
    for key_id, key in sorted(want_keys.items()):
        alg = KEY_ALGORITHMS[key.algorithm]
        old = have_keys.get(key_id)
        if old is None or old.algorithm != alg or old.value != key.secret.reveal():
            if old is not None:
                ch.dropped.add(old.line)
            ch.additions.append(f"ntp authentication-key {key_id} {alg} {key.secret.reveal()}")
    for key_id, old in sorted(have_keys.items()):
        if key_id not in want_keys:
            ch.removals.append(removal_of(old.line))
            ch.dropped.add(old.line)

    _plan_trusted(sorted(k.key_id for k in desired.keys if k.trusted), lines, ch)
    if desired.authenticate and not cfg.authenticate:
        ch.additions.append("ntp authenticate")
    elif not desired.authenticate and cfg.authenticate:
        ch.removals.append("no ntp authenticate")
        ch.dropped.add("ntp authenticate")


def _trusted_range(line: str) -> range | None:
    """The keys one `ntp trusted-key N [- M]` line trusts."""
    t = _tokens(line)
    if len(t) < 3 or t[:2] != ["ntp", "trusted-key"] or not t[2].isdigit():
        return None
    last = t[4] if len(t) == 5 and t[3] == "-" and t[4].isdigit() else t[2]
    return range(int(t[2]), int(last) + 1)


def _plan_trusted(want: list[int], lines: list[str], ch: _Change) -> None:
    """Trusted keys by line: a range line (`ntp trusted-key 1 - 100`) that trusts a key we
    do not want is removed whole with its own `no` form; wanted keys not left trusted by
    the remaining lines are added one by one."""
    wanted = set(want)
    kept: set[int] = set()
    for line in lines:
        keys = _trusted_range(line)
        if keys is None:
            continue
        if all(k in wanted for k in keys):
            kept.update(keys)
            continue
        ch.dropped.add(line)
        # `no` of a range untrusts all of it: before re-trusting a wanted key it held
        if any(k in wanted for k in keys):
            ch.replaced.append(removal_of(line))
        else:
            ch.removals.append(removal_of(line))
    ch.additions.extend(f"ntp trusted-key {k}" for k in want if k not in kept)


def _plan_servers(desired: DesiredNtp, cfg: ConfiguredNtp, lines: list[str], ch: _Change) -> None:
    """Compare meaning (the parser's view), remove by identity (the raw line)."""
    have = {s.address: s for s in cfg.servers}
    raw_server = {a: ln for ln in lines if (a := _server_address(ln)) is not None}
    vrf_changed = (cfg.vrf or None) != (desired.vrf or None)
    for spec in desired.servers:
        if spec.port != 123:
            ch.warnings.append(
                f"IOS always uses port 123; ignoring port {spec.port} for {spec.address}"
            )
        old = have.get(spec.address)
        if old is not None and _same_server(old, spec) and not vrf_changed:
            continue
        line = server_line(spec, desired.vrf)
        if spec.address in raw_server:
            old_line = raw_server[spec.address]
            ch.dropped.add(old_line)
            # Same address and vrf: IOS replaces the line in place as it is entered, so
            # the server is never missing. Another vrf is another line: removed after.
            if removal_of(old_line) != removal_of(line):
                ch.removals.append(removal_of(old_line))
        ch.additions.append(line)
    for address, line in raw_server.items():
        if address not in desired.server_addresses:
            ch.removals.append(removal_of(line))
            ch.dropped.add(line)


def _plan_globals(desired: DesiredNtp, cfg: ConfiguredNtp, lines: list[str], ch: _Change) -> None:
    if desired.source_interface != cfg.source_interface:
        if desired.source_interface:
            ch.additions.append(f"ntp source {desired.source_interface}")
        else:
            ch.removals.append("no ntp source")
        ch.dropped.update(ln for ln in lines if ln.startswith("ntp source "))
    if desired.update_calendar and not cfg.update_calendar:
        ch.additions.append(UPDATE_CALENDAR)
    elif not desired.update_calendar and cfg.update_calendar:
        ch.removals.append("no " + UPDATE_CALENDAR)
        ch.dropped.add(UPDATE_CALENDAR)
