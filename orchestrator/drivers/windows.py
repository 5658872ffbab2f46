"""Windows (w32time) over OpenSSH exec.

Change:  w32tm /config /manualpeerlist:"ADDR,0x8 ..." /syncfromflags:manual /update
then:    w32tm /resync                      (a failed resync is a warning, not a failure)
Never `/reliable:yes`: that advertises the client as a reliable time source.

Configuration read: `w32tm /query /configuration`, whose `NtpServer:` and `Type:`
values end in `(Local)` or `(Policy)` (e.g. `Type: NT5DS (Local)` vs `NT5DS (Policy)`):
`(Policy)` means a domain GPO ("Configure Windows NTP Client") sets the value and a local
change would be overridden, so the push fails with that reason and changes nothing.
Flags `,0x8` = client mode at the normal NTP poll interval (0x1 SpecialInterval would
slow convergence).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from orchestrator.drivers.base import ApplyReport, Backup, Plan, Session
from orchestrator.drivers.common import state_from, unified_diff
from orchestrator.errors import CommandRejected, ParseError
from orchestrator.models import Association, ConfiguredNtp, DesiredNtp, DeviceState, NtpServerSpec
from orchestrator.parsing import parse_output

PLATFORM = "windows"
QUERY_CONFIGURATION = "w32tm /query /configuration"
QUERY_STATUS = "w32tm /query /status"
QUERY_PEERS = "w32tm /query /peers"
RESYNC = "w32tm /resync"
CLIENT_FLAGS = "0x8"
# w32time `Type` value -> the /syncfromflags word that sets it.
SYNC_FLAGS = {"NTP": "manual", "NT5DS": "domhier", "ALLSYNC": "all", "NOSYNC": "no"}

_VALUE = re.compile(
    r"^(?P<name>NtpServer|Type):\s*(?P<value>.*?)\s*\((?P<source>Local|Policy)\)\s*$"
)


def config_values(text: str) -> dict[str, tuple[str, str]]:
    """`NtpServer` and `Type` from `w32tm /query /configuration`: name -> (value, source)."""
    values: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        m = _VALUE.match(line.strip())
        if m and m["name"] not in values:
            values[m["name"]] = (m["value"], m["source"])
    return values


def peer_list(desired: DesiredNtp) -> str:
    return " ".join(f"{s.address},{CLIENT_FLAGS}" for s in desired.servers)


def config_command(peers: str, sync_flags: str) -> str:
    return f'w32tm /config /manualpeerlist:"{peers}" /syncfromflags:{sync_flags} /update'


def _configured(values: Mapping[str, tuple[str, str]]) -> ConfiguredNtp:
    peers = values.get("NtpServer", ("", "Local"))[0]
    servers = tuple(NtpServerSpec(p.split(",")[0]) for p in peers.split() if p.split(",")[0])
    policy = any(source == "Policy" for _, source in values.values())
    return ConfiguredNtp(servers=servers, domain_policy=policy)


class WindowsDriver:
    platform = PLATFORM

    def collect(self, session: Session) -> Mapping[str, str]:
        return {c: session.run(c).output for c in (QUERY_CONFIGURATION, QUERY_STATUS, QUERY_PEERS)}

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        configured = _configured(config_values(raw.get(QUERY_CONFIGURATION, "")))
        status = None
        associations: tuple[Association, ...] = ()
        if raw.get(QUERY_STATUS, "").strip():
            status = parse_output(PLATFORM, QUERY_STATUS, raw[QUERY_STATUS]).status
        if raw.get(QUERY_PEERS, "").strip():
            associations = parse_output(PLATFORM, QUERY_PEERS, raw[QUERY_PEERS]).associations or ()
        warnings = (_policy_warning(),) if configured.domain_policy else ()
        return state_from(
            host, PLATFORM, configured, raw, warnings, associations=associations, status=status
        )

    def backup(self, session: Session) -> Backup:
        result = session.run(QUERY_CONFIGURATION)
        if not result.ok:
            raise CommandRejected(
                f"{session.host.name}: {QUERY_CONFIGURATION!r} failed: "
                f"{(result.stderr or result.output).strip()[:200]}",
                command=QUERY_CONFIGURATION,
                output=result.output,
            )
        values = config_values(result.output)
        if "NtpServer" not in values or "Type" not in values:
            raise ParseError(
                f"{session.host.name}: no NtpServer/Type in {QUERY_CONFIGURATION!r} output",
                platform=PLATFORM,
                command=QUERY_CONFIGURATION,
            )
        state = tuple((f"state:{k}", v) for k, (v, _) in sorted(values.items()))
        return Backup(
            host=session.host.name,
            platform=PLATFORM,
            extra=(*state, (QUERY_CONFIGURATION, result.output)),
        )

    def current(self, backup: Backup) -> DeviceState:
        raw = {k: v for k, v in backup.extra if not k.startswith("state:")}
        values = config_values(raw.get(QUERY_CONFIGURATION, ""))
        return state_from(backup.host, PLATFORM, _configured(values), raw)

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        values = config_values(dict(backup.extra).get(QUERY_CONFIGURATION, ""))
        have_peers, _ = values.get("NtpServer", ("", "Local"))
        have_type, _ = values.get("Type", ("", "Local"))
        want_peers = peer_list(desired)
        warnings = [
            f"w32time cannot use port {s.port} for {s.address}; it always uses 123"
            for s in desired.servers
            if s.port != 123
        ]
        if desired.keys:
            warnings.append("w32time has no symmetric-key authentication; keys are ignored")
        before = [f"NtpServer: {have_peers}", f"Type: {have_type}"]
        after = [f"NtpServer: {want_peers}", "Type: NTP"]
        diff = unified_diff(backup.host, before, after)
        if have_peers == want_peers and have_type.upper() == "NTP":
            return Plan(backup.host, PLATFORM, warnings=tuple(warnings))
        if current.configured.domain_policy:
            return Plan(
                backup.host,
                PLATFORM,
                diff=diff,
                warnings=tuple(warnings),
                blocked=_policy_warning(),
            )
        return Plan(
            backup.host,
            PLATFORM,
            commands=(config_command(want_peers, "manual"),),
            post_commands=(RESYNC,),
            diff=diff,
            warnings=tuple(warnings),
        )

    def apply(self, session: Session, plan: Plan) -> ApplyReport:
        session.configure(plan.commands)  # exec: fails on a non-zero exit status
        warnings = []
        for command in plan.post_commands:
            result = session.run(command)
            if not result.ok:
                text = (result.output + result.stderr).strip().splitlines()
                warnings.append(f"{command!r} failed: {text[0] if text else result.exit_status}")
        return ApplyReport(applied=plan.commands + plan.post_commands, warnings=tuple(warnings))

    def restore(self, session: Session, backup: Backup) -> None:
        state = {k.removeprefix("state:"): v for k, v in backup.extra if k.startswith("state:")}
        flags = SYNC_FLAGS.get(state.get("Type", "").upper())
        if flags is None:
            raise CommandRejected(
                f"{backup.host}: cannot restore w32time Type {state.get('Type')!r}",
                command="w32tm /config",
            )
        session.configure([config_command(state.get("NtpServer", ""), flags)])


def _policy_warning() -> str:
    return (
        "a domain group policy (Configure Windows NTP Client) sets the time source; "
        "a local w32tm change would be overridden - change the GPO instead"
    )
