"""One driver for the platforms napalm already covers: eos, junos, nxos, iosxr.

Configuration is napalm's `get_ntp_servers()` (address -> attributes); what the device
measures is `get_ntp_stats()`, normalised per napalm driver (parsing.normalise_napalm).
A change is the
platform's NTP server lines merged as a candidate (`load_merge_candidate`), checked with
`compare_config` and committed (`commit_config`). A restore merges the lines that bring
the server set back to the backup's, so it needs no state from the failed attempt.
Adding a platform napalm supports is one more entry in SYNTAX.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator.drivers.base import ApplyReport, Backup, CandidateSession, Plan, Session
from orchestrator.drivers.common import state_from, unified_diff
from orchestrator.errors import CommandRejected, InputError, ParseError
from orchestrator.models import ConfiguredNtp, DesiredNtp, DeviceState, NtpServerSpec
from orchestrator.parsing.normalise_napalm import associations_from_napalm

STATE_KEY = "state:get_ntp_servers"
STATS_KEY = "state:get_ntp_stats"


@dataclass(frozen=True)
class Syntax:
    add: Callable[[NtpServerSpec, str | None], str]
    remove: Callable[[str, str | None], str]


def _opts(spec: NtpServerSpec, *, iburst: bool = True, key: str = "key") -> str:
    parts = []
    if spec.prefer:
        parts.append("prefer")
    if iburst and spec.iburst:
        parts.append("iburst")
    if spec.key_id is not None:
        parts.append(f"{key} {spec.key_id}")
    return "".join(f" {p}" for p in parts)


def _vrf(vrf: str | None, word: str = "vrf") -> str:
    return f" {word} {vrf}" if vrf else ""


# Server lines per platform (EOS / NX-OS / IOS-XR command references; Junos `set` form).
SYNTAX: dict[str, Syntax] = {
    "eos": Syntax(
        add=lambda s, vrf: f"ntp server{_vrf(vrf)} {s.address}{_opts(s)}",
        remove=lambda a, vrf: f"no ntp server{_vrf(vrf)} {a}",
    ),
    "nxos": Syntax(
        add=lambda s, vrf: f"ntp server {s.address}{_opts(s, iburst=False)}{_vrf(vrf, 'use-vrf')}",
        remove=lambda a, vrf: f"no ntp server {a}{_vrf(vrf, 'use-vrf')}",
    ),
    "iosxr": Syntax(
        add=lambda s, vrf: f"ntp server{_vrf(vrf)} {s.address}{_opts(s)}",
        remove=lambda a, vrf: f"no ntp server{_vrf(vrf)} {a}",
    ),
    "junos": Syntax(
        add=lambda s, vrf: (
            f"set system ntp server {s.address}"
            + (" prefer" if s.prefer else "")
            + (f" key {s.key_id}" if s.key_id is not None else "")
        ),
        remove=lambda a, vrf: f"delete system ntp server {a}",
    ),
}


def servers_of(state: Mapping[str, Mapping[str, object]]) -> tuple[NtpServerSpec, ...]:
    """napalm NTPServerDict entries as specs (unknown attributes keep their defaults)."""
    specs = []
    for address, attrs in sorted(state.items()):
        key = attrs.get("key_id")
        specs.append(
            NtpServerSpec(
                address=address,
                key_id=key if isinstance(key, int) and key > 0 else None,
                prefer=bool(attrs.get("prefer", False)),
                iburst=bool(attrs.get("iburst", True)),
            )
        )
    return tuple(specs)


def _same(have: NtpServerSpec, want: NtpServerSpec) -> bool:
    return (have.key_id, have.prefer) == (want.key_id, want.prefer)


class NapalmDriver:
    def __init__(self, platform: str) -> None:
        if platform not in SYNTAX:
            raise InputError(f"no napalm syntax for platform {platform!r}")
        self.platform = platform
        self.syntax = SYNTAX[platform]

    def collect(self, session: Session) -> Mapping[str, str]:
        candidate = _candidate(session)
        return {
            STATE_KEY: json.dumps(candidate.get_ntp_servers(), sort_keys=True),
            STATS_KEY: json.dumps(candidate.get_ntp_stats(), sort_keys=True),
        }

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        state = json.loads(raw.get(STATE_KEY, "{}"))
        configured = ConfiguredNtp(servers=servers_of(state))
        if STATS_KEY not in raw:  # a backup holds configuration only
            return state_from(host, self.platform, configured, raw)
        stats = json.loads(raw[STATS_KEY])
        if not isinstance(stats, list):
            raise ParseError(
                f"{host}: napalm get_ntp_stats returned {type(stats).__name__}, not a list",
                platform=self.platform,
                command="get_ntp_stats",
            )
        try:
            associations = associations_from_napalm(self.platform, stats)
        except ParseError as exc:  # name the device, not only the platform
            raise ParseError(
                f"{host}: {exc}", platform=exc.platform, command=exc.command, line=exc.line
            ) from None
        return state_from(host, self.platform, configured, raw, associations=associations)

    def backup(self, session: Session) -> Backup:
        state = json.dumps(_candidate(session).get_ntp_servers(), sort_keys=True)
        return Backup(
            host=session.host.name,
            platform=self.platform,
            config_lines=tuple(sorted(json.loads(state))),
            extra=((STATE_KEY, state),),
        )

    def current(self, backup: Backup) -> DeviceState:
        return self.parse(backup.host, dict(backup.extra))

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        have = {s.address: s for s in current.configured.servers}
        lines: list[str] = []
        for spec in desired.servers:
            old = have.get(spec.address)
            if old is None or not _same(old, spec):
                lines.append(self.syntax.add(spec, desired.vrf))
        for address in have:
            if address not in desired.server_addresses:
                lines.append(self.syntax.remove(address, desired.vrf))
        before = [f"ntp server {a}" for a in sorted(have)]
        after = [f"ntp server {a}" for a in sorted(desired.server_addresses)]
        return Plan(
            host=backup.host,
            platform=self.platform,
            commands=tuple(lines),
            diff=unified_diff(backup.host, before, after) if lines else "",
        )

    def apply(self, session: Session, plan: Plan) -> ApplyReport:
        candidate = _candidate(session)
        diff = candidate.merge_candidate("\n".join(plan.commands) + "\n")
        if not diff.strip():
            candidate.discard()
            return ApplyReport(warnings=("the device reported no difference; nothing committed",))
        candidate.commit()
        return ApplyReport(applied=plan.commands)

    def restore(self, session: Session, backup: Backup) -> None:
        wanted = servers_of(json.loads(dict(backup.extra).get(STATE_KEY, "{}")))
        now = self.current(self.backup(session))
        plan = self.render(DesiredNtp(wanted), now, backup)
        if plan.commands:
            self.apply(session, plan)


def _candidate(session: Session) -> CandidateSession:
    if not isinstance(session, CandidateSession):
        raise CommandRejected(
            f"{session.host.name}: napalm platforms need a napalm session",
            command="load_merge_candidate",
        )
    return session
