"""Cisco CatOS (Catalyst 4000/5000/6000): exec-level `set ntp` commands.

Configuration read: the `set ntp ...` lines of `show config` (CatOS has no output
filters). Syntax, from the CatOS configuration guides and the configurations that
network tools read back (ZipTie's CatOS adapter: `set ntp key 505 trusted md5-encrypted
060c0e2c495d`, `set ntp server 1.2.3.4 key 505`, `set ntp authentication enable`):

    set ntp key N trusted|untrusted md5 SECRET     clear ntp key N
    set ntp server ADDR [key N]                    clear ntp server ADDR
    set ntp client enable|disable                  (client mode is disabled by default)
    set ntp authentication enable|disable

Cisco's order for authentication: key, server with key, client enable, authentication.
CatOS shows a key's value type-7 encoded (`set ntp key 5 trusted md5-encrypted
060c0e2c495d`), so a key whose value changed under the same number is set again. Where
a value is not shown, the key is set again on every push and the result says why. Key
values are entered in clear text only: keys that are not wanted are reported rather than
cleared, and a restore cannot put an old value back (the result warns when a push
changes one).
CatOS writes each `set` command to NVRAM as it is entered: there is nothing to save.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.drivers.base import ApplyReport, Backup, Plan, Session
from orchestrator.drivers.common import restore_steps, state_from, unified_diff
from orchestrator.models import (
    Association,
    ConfiguredNtp,
    DesiredNtp,
    DeviceState,
    NtpServerSpec,
    NtpStatus,
)
from orchestrator.parsing import parse_output
from orchestrator.redact import key_secrets, redact_text
from orchestrator.type7 import decode_type7

PLATFORM = "cisco_catos"
SHOW_CONFIG = "show config"
SHOW_NTP = "show ntp"
CLIENT_ENABLE = "set ntp client enable"
AUTH_ENABLE = "set ntp authentication enable"


@dataclass(frozen=True)
class CatosNtp:
    """The `set ntp` lines of a CatOS configuration, by meaning."""

    servers: dict[str, int | None]  # address -> key
    keys: dict[int, bool]  # number -> trusted
    client_enabled: bool
    authentication: bool
    key_values: dict[int, str | None] = field(default_factory=dict)  # None: not shown

    @classmethod
    def from_lines(cls, lines: Sequence[str]) -> CatosNtp:
        servers: dict[str, int | None] = {}
        keys: dict[int, bool] = {}
        values: dict[int, str | None] = {}
        client = auth = False
        for line in lines:
            t = line.split()
            if t[:3] == ["set", "ntp", "server"] and len(t) >= 4:
                key = int(t[5]) if len(t) >= 6 and t[4] == "key" and t[5].isdigit() else None
                servers[t[3]] = key
            elif t[:3] == ["set", "ntp", "key"] and len(t) >= 5 and t[3].isdigit():
                keys[int(t[3])] = t[4] == "trusted"
                values[int(t[3])] = _key_value(t[5:])
            elif t[:3] == ["set", "ntp", "client"] and len(t) >= 4:
                client = t[3] == "enable"
            elif t[:3] == ["set", "ntp", "authentication"] and len(t) >= 4:
                auth = t[3] == "enable"
        return cls(servers, keys, client, auth, values)

    def configured(self) -> ConfiguredNtp:
        return ConfiguredNtp(
            servers=tuple(NtpServerSpec(a, key_id=k) for a, k in self.servers.items()),
            authenticate=self.authentication,
            trusted_keys=tuple(sorted(n for n, trusted in self.keys.items() if trusted)),
        )


def _key_value(rest: Sequence[str]) -> str | None:
    """The value after `set ntp key N trusted`: `md5-encrypted HEX` decoded, `md5 VALUE`
    as given; None when the device does not show it (`md5 -`, nothing, unreadable)."""
    if len(rest) < 2 or rest[1] == "-":
        return None
    if rest[0] == "md5-encrypted":
        try:
            return decode_type7(rest[1])
        except ValueError:
            return None
    return rest[1] if rest[0] == "md5" else None


def ntp_lines(show_config: str) -> tuple[str, ...]:
    """The `set ntp` lines of the `#ntp` block of `show config` (the whole text when it
    has no such block, as a saved backup's lines)."""
    lines = [ln.rstrip() for ln in show_config.splitlines()]
    if "#ntp" in lines:
        block = lines[lines.index("#ntp") + 1 :]
        lines = block[: block.index("!")] if "!" in block else block
    return tuple(ln for ln in lines if ln.startswith("set ntp "))


def show_ntp_facts(text: str) -> tuple[bool | None, tuple[str, ...]]:
    """Client mode and the server column of `show ntp` (command-reference layout)."""
    client: bool | None = None
    servers: list[str] = []
    in_servers = False
    for line in (ln.strip() for ln in text.splitlines()):
        if line.startswith("Client mode:"):
            client = line.split(":", 1)[1].strip() == "enabled"
        elif line.startswith("NTP-Server"):
            in_servers = True
        elif line.startswith("Key Number"):
            in_servers = False
        elif in_servers and line and not line.startswith("-"):
            servers.append(line.split()[0])
    return client, tuple(servers)


def cross_check(config: CatosNtp, show_ntp: str) -> tuple[str, ...]:
    """Where `show config`'s #ntp block and `show ntp` disagree (each says what the
    switch does; a disagreement is worth a person's look)."""
    client, servers = show_ntp_facts(show_ntp)
    warnings = []
    if client is not None and client != config.client_enabled:
        warnings.append(
            f"show config says NTP client mode is {'en' if config.client_enabled else 'dis'}"
            f"abled, show ntp says {'en' if client else 'dis'}abled"
        )
    if client is not None and set(servers) != set(config.servers):
        warnings.append(
            f"show config lists servers {', '.join(config.servers) or 'none'}, "
            f"show ntp lists {', '.join(servers) or 'none'}"
        )
    return tuple(warnings)


def server_command(spec: NtpServerSpec) -> str:
    return f"set ntp server {spec.address}" + (f" key {spec.key_id}" if spec.key_id else "")


def removal_of(line: str) -> str | None:
    """The command that undoes one `set ntp` line (None for keys: values are not shown)."""
    t = line.split()
    if t[:3] == ["set", "ntp", "server"] and len(t) >= 4:
        return f"clear ntp server {t[3]}"
    if line == CLIENT_ENABLE:
        return "set ntp client disable"
    if line == AUTH_ENABLE:
        return "set ntp authentication disable"
    if t[:3] == ["set", "ntp", "key"] and len(t) >= 4:
        return f"clear ntp key {t[3]}"
    return None


class CiscoCatosDriver:
    platform = PLATFORM

    def collect(self, session: Session) -> Mapping[str, str]:
        return {c: session.run(c).output for c in (SHOW_NTP, SHOW_CONFIG)}

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        """Configuration from the `#ntp` block of `show config`, state from `show ntp`,
        and a warning wherever the two disagree."""
        config_text = raw.get(SHOW_CONFIG, "")
        configured = ConfiguredNtp()
        warnings: tuple[str, ...] = ()
        if config_text.strip():
            parsed_config = parse_output(PLATFORM, SHOW_CONFIG, config_text).config
            configured = parsed_config or configured
            warnings = cross_check(
                CatosNtp.from_lines(ntp_lines(config_text)), raw.get(SHOW_NTP, "")
            )
        associations: tuple[Association, ...] = ()
        status: NtpStatus | None = None
        if raw.get(SHOW_NTP, "").strip():
            parsed = parse_output(PLATFORM, SHOW_NTP, raw[SHOW_NTP])
            status = parsed.status
            associations = parsed.associations or ()
            if parsed.config is not None and not config_text.strip():
                configured = parsed.config
        return state_from(
            host,
            PLATFORM,
            configured,
            raw,
            warnings,
            associations=associations,
            status=status,
        )

    def backup(self, session: Session) -> Backup:
        # Only the `set ntp` lines: `show config` also prints the current time.
        lines = ntp_lines(session.run(SHOW_CONFIG).output)
        return Backup(host=session.host.name, platform=PLATFORM, config_lines=lines)

    def current(self, backup: Backup) -> DeviceState:
        configured = CatosNtp.from_lines(backup.config_lines).configured()
        return state_from(
            backup.host, PLATFORM, configured, {SHOW_CONFIG: "\n".join(backup.config_lines)}
        )

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        have = CatosNtp.from_lines(backup.config_lines)
        commands: list[str] = []
        unverifiable: list[str] = []
        warnings: list[str] = []
        for key in desired.keys:
            if key.algorithm != "md5":
                warnings.append(
                    f"CatOS keys are MD5 only; key {key.key_id} ({key.algorithm}) skipped"
                )
                continue
            trust = "trusted" if key.trusted else "untrusted"
            command = f"set ntp key {key.key_id} {trust} md5 {key.secret.reveal()}"
            if key.key_id not in have.keys:
                commands.append(command)
                continue
            value = have.key_values.get(key.key_id)
            if value is None:
                commands.append(command)
                unverifiable.append(command)
                warnings.append(
                    f"the device does not show the value of NTP key {key.key_id}: whether it "
                    "matches cannot be read back, so it is set again on every push"
                )
            elif value != key.secret.reveal() or have.keys[key.key_id] != key.trusted:
                commands.append(command)
                if value != key.secret.reveal():
                    warnings.append(
                        f"NTP key {key.key_id} gets a new value; a restore cannot bring the "
                        "old one back (CatOS takes key values in clear text only)"
                    )
        wanted_keys = {k.key_id for k in desired.keys}
        for number in sorted(set(have.keys) - wanted_keys):
            warnings.append(
                f"NTP key {number} is configured but not wanted; left in place "
                "(CatOS does not show key values, so it could not be restored)"
            )
        for spec in desired.servers:
            if spec.port != 123:
                warnings.append(f"CatOS always uses port 123; ignoring port {spec.port}")
            if spec.address not in have.servers or have.servers[spec.address] != spec.key_id:
                commands.append(server_command(spec))
        stale = [a for a in have.servers if a not in desired.server_addresses]
        if not have.client_enabled:
            commands.append(CLIENT_ENABLE)
        if desired.authenticate and not have.authentication:
            commands.append(AUTH_ENABLE)
        elif not desired.authenticate and have.authentication:
            commands.append("set ntp authentication disable")
        commands += [f"clear ntp server {a}" for a in stale]
        if desired.source_interface or desired.vrf:
            warnings.append("CatOS has no NTP source interface or vrf setting; ignored")

        after = _predict(backup.config_lines, commands)
        diff = unified_diff(backup.host, _masked(backup.config_lines), _masked(after))
        return Plan(
            host=backup.host,
            platform=PLATFORM,
            commands=tuple(commands),
            diff=redact_text(diff, key_secrets(desired)),
            warnings=tuple(warnings),
            unverifiable=tuple(unverifiable),
        )

    def apply(self, session: Session, plan: Plan) -> ApplyReport:
        session.configure(plan.commands)  # raises CommandRejected on `Unknown command`
        return ApplyReport(applied=plan.commands)

    def restore(self, session: Session, backup: Backup) -> None:
        commands = restore_commands(self.backup(session).config_lines, backup.config_lines)
        if commands:
            session.configure(commands)


def restore_commands(now: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """From the `set ntp` lines `now` back to exactly `wanted`, adding before clearing
    (`set ntp server X` replaces X's line in place). Key lines cannot be re-entered (their
    values are not shown); the driver never clears a key that was there before."""
    return restore_steps(
        now,
        wanted,
        identity=removal_of,
        ordered=lambda ln: ln.startswith("set ntp server "),
        redo=lambda ln: not ln.startswith("set ntp key "),
    )


def _masked(lines: Sequence[str]) -> list[str]:
    out = []
    for line in lines:
        t = line.split()
        if t[:3] == ["set", "ntp", "key"] and len(t) >= 7:
            t[6] = "********"
            line = " ".join(t)
        out.append(line)
    return out


def _predict(lines: Sequence[str], commands: Sequence[str]) -> list[str]:
    """The `set ntp` lines after `commands`, for the diff a person reads."""
    result = list(lines)
    for command in commands:
        t = command.split()
        if t[0] == "clear":
            result = [ln for ln in result if removal_of(ln) != command]
        elif t[:3] == ["set", "ntp", "server"]:
            result = [ln for ln in result if removal_of(ln) != f"clear ntp server {t[3]}"]
            result.append(command)
        elif t[:3] == ["set", "ntp", "key"]:
            result = [ln for ln in result if removal_of(ln) != f"clear ntp key {t[3]}"]
            result.append(command)
        elif command.startswith("set ntp authentication") or command.startswith("set ntp client"):
            result = [ln for ln in result if ln.split()[:3] != t[:3]]
            result.append(command)
    return result
