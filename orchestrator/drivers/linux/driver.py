"""The Linux driver: detect the daemon, then let its strategy say what to write, how
the daemon picks it up, what to ask it and what the answers mean.

A plan's `files` are the new contents and its `commands` the exec lines that write them
(commands[i] writes files[i], the content on its stdin); `post_commands` reload the daemon.
A backup is every file orch would touch, byte for byte (None where it did not exist);
restore writes each back exactly (or deletes it) and reloads the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from orchestrator.drivers.base import ApplyReport, Backup, CommandResult, Plan, Session
from orchestrator.drivers.common import state_from
from orchestrator.drivers.linux.chrony import Chrony
from orchestrator.drivers.linux.files import (
    AS_ROOT,
    SUDO,
    SUDO_PASSWORD,
    ManagedFile,
    decode_file,
    delete_file_command,
    encode_file,
    file_diff,
    mask,
    read_file_command,
    sudo_stdin,
    wrap,
    write_file_command,
)
from orchestrator.drivers.linux.ntpd import Ntpd
from orchestrator.drivers.linux.probe import PROBE, Probe
from orchestrator.drivers.linux.strategy import (
    CAT,
    PLATFORM,
    DaemonStrategy,
    Target,
    daemon_down,
)
from orchestrator.drivers.linux.timesyncd import Timesyncd
from orchestrator.errors import CommandRejected, DeviceError, ParseError
from orchestrator.models import ConfiguredNtp, DesiredNtp, DeviceState, Host, NtpStatus

STRATEGIES: tuple[DaemonStrategy, ...] = (Chrony(), Ntpd(), Timesyncd())
BY_NAME = {s.name: s for s in STRATEGIES}
# Host `data:` keys: the daemon when detection should not guess, the sudo password.
DAEMON_HINT = "ntp_daemon"
SUDO_PASSWORD_KEY = "sudo_password"


def strategy_for(probe: Probe, hint: str | None = None) -> DaemonStrategy:
    """The hint, else the daemon that runs, else the one installed."""
    if hint:
        wanted = hint.strip().lower()
        for strategy in STRATEGIES:
            if wanted in strategy.hints:
                return strategy
        names = sorted(h for s in STRATEGIES for h in s.hints)
        raise DeviceError(f"data.{DAEMON_HINT}={hint!r} is not one of {', '.join(names)}")
    for strategy in STRATEGIES:
        if strategy.runs(probe):
            return strategy
    for strategy in STRATEGIES:
        if strategy.installed(probe):
            return strategy
    raise DeviceError("no NTP client found (chrony, ntpd or systemd-timesyncd): install chrony")


def privilege_of(probe: Probe, host: Host) -> str:
    if probe.uid == 0:
        return AS_ROOT
    if "sudo" not in probe.tools:
        raise DeviceError(
            f"{host.name}: {host.username} is not root and there is no sudo; orch needs one "
            "of them to change the NTP configuration"
        )
    if probe.sudo_nopasswd or not _sudo_password(host):
        return SUDO  # without a password to give, `sudo -n` says itself what is wrong
    return SUDO_PASSWORD


def _sudo_password(host: Host) -> str | None:
    given = host.data_get(SUDO_PASSWORD_KEY)
    if given:
        return given
    return host.password.reveal() if host.password is not None else None


class LinuxDriver:
    platform = PLATFORM

    # ------------------------------------------------------------------ I/O

    def detect(self, session: Session) -> tuple[Target, str | None]:
        """Detect the daemon and where its configuration goes (two execs); also returns
        the main configuration file's text (None when it does not exist)."""
        probe = Probe.parse(session.run(PROBE).output)
        privilege = privilege_of(probe, session.host)
        strategy = strategy_for(probe, session.host.data_get(DAEMON_HINT))
        conf = strategy.main_conf(probe)
        conf_text = self._read(session, conf, privilege)
        return strategy.target(probe, conf, conf_text or "", privilege), conf_text

    def collect(self, session: Session) -> Mapping[str, str]:
        target, conf_text = self.detect(session)
        strategy = BY_NAME[target.daemon]
        raw = {CAT + target.main_conf: conf_text or ""}
        if target.servers.path != target.main_conf:
            text = self._read(session, target.servers.path, target.privilege)
            raw[CAT + target.servers.path] = text or ""
        for command in strategy.state_commands + strategy.extra_commands:
            privilege = target.privilege if strategy.state_needs_root else AS_ROOT
            result = self._run(session, command, privilege)
            raw[command] = result.output if result.ok else (result.output + result.stderr)
        return raw

    def backup(self, session: Session) -> Backup:
        target, conf_text = self.detect(session)
        known = {target.main_conf: conf_text}
        files: list[tuple[str, str | None]] = []
        for managed in target.files:
            if managed.path not in known:
                known[managed.path] = self._read(session, managed.path, target.privilege)
            files.append((managed.path, known[managed.path]))
        # The main configuration rides along (not restored: orch does not change it outside
        # its block) so that render can warn about sources orch does not manage.
        conf = (CAT + target.main_conf, conf_text or "")
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
            self._check(session, command, f"cannot write {path}", encode_file(content))
            applied.append(f"wrote {path}")
        for command in plan.post_commands:
            self._check(session, command)
            applied.append(command)
        return ApplyReport(applied=tuple(applied))

    def restore(self, session: Session, backup: Backup) -> None:
        target = Target.from_extra(backup.extra)
        strategy = BY_NAME[target.daemon]
        reloads: list[str] = []
        managed = {m.path: m for m in target.files}
        for path, content in backup.files:
            # Every file orch may touch is backed up (NTS files too, whether a push uses them
            # or not): one unchanged since the backup is not rewritten, so no daemon reloads
            # or restarts for nothing.
            if self._read(session, path, target.privilege) == content:
                continue
            if content is None:
                self._check(session, wrap(delete_file_command(path), target.privilege))
            else:
                self._write(session, managed[path], content, target.privilege)
            reloads += managed[path].reload
        for command in strategy.order_reloads(reloads):
            self._check(session, wrap(command, target.privilege))

    # ------------------------------------------------------------------ pure

    def render(self, desired: DesiredNtp, current: DeviceState, backup: Backup) -> Plan:
        target = Target.from_extra(backup.extra)
        strategy = BY_NAME[target.daemon]
        before = dict(backup.files)
        conf_text = dict(backup.extra).get(CAT + target.main_conf, "")
        wanted, warnings = strategy.render_lines(desired, target, conf_text, before)
        files: list[tuple[str, str]] = []
        writes: list[str] = []
        reloads: list[str] = []
        diffs: list[str] = []
        for managed, lines in wanted:
            old = before.get(managed.path)
            new = managed.content(old, lines)
            if new != (old or ""):
                files.append((managed.path, new))
                writes.append(
                    wrap(write_file_command(managed.path, managed.new_mode), target.privilege)
                )
                reloads += managed.reload
                diffs.append(file_diff(backup.host, managed.path, old, new))
        warnings += unmanaged_sources_warnings(current, target, desired)
        return Plan(
            host=backup.host,
            platform=PLATFORM,
            commands=tuple(writes),
            files=tuple(files),
            post_commands=tuple(wrap(c, target.privilege) for c in strategy.order_reloads(reloads)),
            diff=mask("".join(diffs), desired),
            warnings=tuple(warnings),
        )

    def current(self, backup: Backup) -> DeviceState:
        """The configuration a backup shows (what push compares against)."""
        target = Target.from_extra(backup.extra)
        raw = {k: v for k, v in backup.extra if k.startswith(CAT)}
        raw |= {CAT + path: text or "" for path, text in backup.files}
        return state_from(backup.host, PLATFORM, _configured(target.daemon, raw), raw)

    def parse(self, host: str, raw: Mapping[str, str]) -> DeviceState:
        strategy = next((s for s in STRATEGIES if s.state_commands[0] in raw), None)
        if strategy is None:
            raise ParseError(
                f"{host}: no chronyc, ntpq or timedatectl output to parse", platform=PLATFORM
            )
        configured = _configured(strategy.name, raw)
        for command in strategy.state_commands:
            down = daemon_down(raw[command])
            if down is not None:
                # The daemon is not running or not answering: a state, not unreadable output.
                return state_from(
                    host,
                    PLATFORM,
                    configured,
                    raw,
                    (f"the {strategy.name} daemon does not answer: `{command}` said {down!r}",),
                    status=NtpStatus(False, None, None, None, None, None, None, None),
                )
        associations, status = strategy.parse_state(raw)
        state = state_from(
            host, PLATFORM, configured, raw, associations=associations, status=status
        )
        return replace(state, nts_sources=strategy.nts_sources(raw))

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _run(
        session: Session, command: str, privilege: str, stdin: str | None = None
    ) -> CommandResult:
        if privilege == AS_ROOT:
            return session.run(command, stdin=stdin)
        password = _sudo_password(session.host) if privilege == SUDO_PASSWORD else None
        return session.run(wrap(command, privilege), stdin=sudo_stdin(privilege, password, stdin))

    def _read(self, session: Session, path: str, privilege: str) -> str | None:
        result = self._run(session, read_file_command(path), privilege)
        if not result.ok:
            raise _rejected(session, f"cannot read {path}", result)
        return decode_file(result.output)

    def _write(self, session: Session, managed: ManagedFile, content: str, privilege: str) -> None:
        command = wrap(write_file_command(managed.path, managed.new_mode), privilege)
        self._check(session, command, f"cannot write {managed.path}", encode_file(content))

    @staticmethod
    def _check(
        session: Session, command: str, what: str | None = None, stdin: str | None = None
    ) -> None:
        """Run an already wrapped command; the sudo password goes first on its stdin."""
        if command.startswith("sudo -k -S "):
            stdin = sudo_stdin(SUDO_PASSWORD, _sudo_password(session.host), stdin)
        result = session.run(command, stdin=stdin)
        if not result.ok:
            raise _rejected(session, what or f"{command!r} exited {result.exit_status}", result)


def _rejected(session: Session, what: str, result: CommandResult) -> CommandRejected:
    detail = (result.stderr or result.output).strip()[:200]
    return CommandRejected(
        f"{session.host.name}: {what}: {detail}", command=result.command, output=result.output
    )


def _configured(daemon: str, raw: Mapping[str, str]) -> ConfiguredNtp:
    files = {command[len(CAT) :]: text for command, text in raw.items() if command.startswith(CAT)}
    return BY_NAME[daemon].configured(files)


def unmanaged_sources_warnings(
    current: DeviceState, target: Target, desired: DesiredNtp
) -> list[str]:
    """Sources configured outside orch's file or block, which orch leaves alone."""
    strategy = BY_NAME[target.daemon]
    outside: list[str] = []
    for command, text in current.raw:
        path = command[len(CAT) :]
        if not command.startswith(CAT) or (path == target.servers.path and target.servers.whole):
            continue
        outside += [
            s.address for s in strategy.outside_orch(path, text) if s.address not in outside
        ]
    wanted = set(desired.server_addresses)
    others = [a for a in outside if a not in wanted]
    duplicates = [a for a in outside if a in wanted]
    warnings = []
    if others:
        warnings.append(
            f"{target.main_conf} also configures {', '.join(others)} outside orch's settings; "
            "the host may select those instead"
        )
    if duplicates and strategy.warns_duplicates:
        warnings.append(
            f"{target.main_conf} already configures {', '.join(duplicates)} outside orch's "
            "settings; the daemon keeps that entry and ignores orch's options for it"
        )
    return warnings
