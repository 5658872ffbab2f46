"""`orch push` without the CLI: plan, apply, check and, on failure, restore, per host.

For each host, holding the device's lock (locks/<host>.lock), over one session:

    read the backup -> render -> noop: `unchanged`
    -> write the backup atomically (backups/<run-id>/<host>.json); if it cannot be
       written the device is `failed` untouched
    -> apply (adding before removing) -> re-read -> render again: must be noop
    -> on any failure, an interrupt or the time limit: restore the backup (reconnecting
       if the session dropped) within its own time, re-read, and report `rolled-back`
       (`interrupted-restored` after a signal) when the device is back byte for byte,
       else `failed` with the reason and the backup's path.

`timeout_s` covers apply, verification and restore of one host; when it runs out mid-
change the command in progress finishes, no further one is sent, and the restore gets
`restore_timeout_s` more. A stop request (RunControl, set by the CLI on SIGINT/SIGTERM)
starts no new device, and stops an applying one the same way.

`--dry-run` reads and renders only: it never changes a device or writes a backup.
"""

from __future__ import annotations

import secrets as _secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from orchestrator import paths
from orchestrator.drivers import get_driver
from orchestrator.drivers.base import (
    ApplyReport,
    Backup,
    CandidateSession,
    Driver,
    Plan,
    Session,
)
from orchestrator.engine.backups import (
    BackupError,
    check_writable,
    load_backup,
    store_backup,
)
from orchestrator.engine.guard import GuardedSession, StopCheck, Stopped
from orchestrator.engine.locks import DeviceBusy, device_lock
from orchestrator.engine.runner import TIMEOUT_KIND, HostOutcome, run_per_host
from orchestrator.engine.signals import RunControl
from orchestrator.errors import ConnectionFailure, DeviceError
from orchestrator.models import DeviceState, Host, PushOutcome, PushResult
from orchestrator.redact import host_secrets, redact_text

__all__ = ["PushOptions", "load_backup", "push_host", "push_hosts", "store_backup"]

SessionOpener = Callable[[Host], Session]


@runtime_checkable
class ConfigReader(Protocol):
    """Optional driver method: the configuration state a backup already shows.

    Drivers that have it spare the extra show commands of collect() during a push.
    """

    def current(self, backup: Backup) -> DeviceState: ...


class VerificationFailed(DeviceError):
    """After apply, the device's configuration still differs from the desired one."""


@dataclass(frozen=True)
class PushOptions:
    dry_run: bool = False
    workers: int = 50
    timeout_s: float = 120.0  # apply + verification + restore of one host
    restore_timeout_s: float = 60.0  # what a restore may still take once that is up
    connect_timeout_s: float = 30.0
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    backups_dir: Path | None = None  # default: paths.backups_dir()
    lock_wait_s: float = 10.0  # how long to wait for a device another run holds

    @property
    def backups(self) -> Path:
        return self.backups_dir or paths.backups_dir()

    @property
    def locks(self) -> Path:
        """Next to the backups: the data directory's locks/ by default."""
        return self.backups.parent / "locks"


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{_secrets.token_hex(3)}"


def ssh_opener(options: PushOptions) -> SessionOpener:
    """Open real SSH sessions (imported lazily: planning from data needs no SSH stack)."""
    from orchestrator.drivers.session import open_session

    def connect(host: Host) -> Session:
        return open_session(
            host,
            timeout_s=options.connect_timeout_s,
            known_hosts=options.known_hosts,
            accept_new_host_keys=options.accept_new_host_keys,
        )

    def open_(host: Host) -> Session:
        try:
            return connect(host)
        except ConnectionFailure as exc:
            # A login cut short by a busy device is worth one more try; a refused password,
            # host key or timeout is not (retrying them only locks accounts or waits).
            if "session dropped" not in str(exc):
                raise
        return connect(host)

    return open_


def _current(driver: Driver, session: Session, host: Host, backup: Backup) -> DeviceState:
    if isinstance(driver, ConfigReader):
        return driver.current(backup)
    return driver.parse(host.name, driver.collect(session))


def same_config(a: Backup, b: Backup) -> bool:
    """Byte-identical device state (config lines, files and the raw read-back)."""
    return (a.config_lines, a.files, a.extra) == (b.config_lines, b.files, b.extra)


@dataclass
class RunState:
    """What the hosts of one run share: the stop request and the backups written so far
    (a host whose task the runner had to abandon still reports its backup)."""

    run_id: str
    control: RunControl = field(default_factory=RunControl)
    written: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, host: str, path: Path) -> str:
        with self.lock:
            self.written[host] = str(path)
        return str(path)


class HostPush:
    """The push of one host: a small state machine over one session."""

    what = "push"

    def __init__(
        self,
        host: Host,
        driver: Driver,
        opener: SessionOpener,
        *,
        run: RunState,
        options: PushOptions,
    ) -> None:
        self.host = host
        self.driver = driver
        self.opener = opener
        self.run_state = run
        self.control = run.control
        self.options = options
        self.secrets = host_secrets(host)
        self.deadline = float("inf")
        self.line_s = 1.0

    def _clean(self, text: str) -> str:
        return redact_text(text, self.secrets)

    def run(self) -> PushResult:
        if self.control.stopping:
            return self._result(
                PushOutcome.SKIPPED, None, reason=f"{self.control.reason}: not started"
            )
        try:
            with device_lock(
                self.options.locks,
                self.host.name,
                what=f"{self.what} run {self.run_state.run_id}",
                exclusive=not self.options.dry_run,
                wait_s=self.options.lock_wait_s,
                give_up=lambda: self.control.stopping,
            ):
                self.deadline = time.monotonic() + self.options.timeout_s
                self.control.phase(self.host.name, "reading")
                try:
                    session = self.opener(self.host)
                    try:
                        return self._run(session)
                    finally:
                        session.close()
                finally:
                    self.control.phase(self.host.name, None)
        except DeviceBusy as exc:
            if self.control.stopping:
                return self._result(
                    PushOutcome.SKIPPED, None, reason=f"{self.control.reason}: not started"
                )
            return self._result(PushOutcome.FAILED, None, reason=str(exc), error_kind="busy")

    def _result(
        self,
        outcome: PushOutcome,
        plan: Plan | None,
        *,
        reason: str = "",
        warnings: Sequence[str] = (),
        backup_path: str | None = None,
        error_kind: str = "",
    ) -> PushResult:
        all_warnings = (*(plan.warnings if plan else ()), *warnings)
        return PushResult(
            host=self.host.name,
            platform=self.host.platform,
            outcome=outcome,
            reason=self._clean(reason),
            diff=plan.diff if plan is not None else "",
            warnings=tuple(self._clean(w) for w in all_warnings),
            backup_path=backup_path,
            error_kind=error_kind,
        )

    # ------------------------------------------------------------------ the steps

    def _plan(self, session: Session, backup: Backup) -> Plan:
        return self.driver.render(
            self.host.desired, _current(self.driver, session, self.host, backup), backup
        )

    def _apply(self, session: Session, plan: Plan) -> ApplyReport:
        return self.driver.apply(session, plan)

    def _verify(self, session: Session, report: ApplyReport) -> Backup:
        """Re-read the device; VerificationFailed when it is not as wanted."""
        after = self.driver.backup(session)
        check = self._plan(session, after)
        ignored = {*report.skipped, *check.unverifiable}
        remaining = [c for c in check.commands if c not in ignored]
        if remaining or check.files:
            what = ", ".join(remaining[:3] or [p for p, _ in check.files[:3]])
            raise VerificationFailed(
                f"{self.host.name}: after the {self.what} the device still differs ({what})"
            )
        return after

    def _changed_reason(self) -> str:
        return ""

    def _stop_check(self) -> str | None:
        if self.control.stopping:
            return self.control.reason
        if time.monotonic() > self.deadline:
            return f"timed out after {self.options.timeout_s:g} s during the change"
        return None

    def _run(self, session: Session) -> PushResult:
        t0 = time.monotonic()
        backup = self.driver.backup(session)
        # One read's time: what a configuration line is expected to take at first.
        self.line_s = time.monotonic() - t0
        plan = self._plan(session, backup)
        if plan.blocked:
            return self._result(PushOutcome.FAILED, plan, reason=plan.blocked)
        if self.options.dry_run:
            outcome = PushOutcome.UNCHANGED if plan.is_noop else PushOutcome.DRY_RUN
            return self._result(outcome, plan)
        if plan.is_noop:
            return self._result(PushOutcome.UNCHANGED, plan)
        if self.control.stopping:
            return self._result(
                PushOutcome.SKIPPED, plan, reason=f"{self.control.reason}: nothing was changed"
            )
        if time.monotonic() > self.deadline:
            # Too late to start a change we might not finish (or roll back) in time.
            return self._result(
                PushOutcome.FAILED,
                plan,
                reason=f"{self.host.name}: timed out after {self.options.timeout_s:g} s "
                "before applying; nothing was changed",
                error_kind="timeout",
            )
        try:
            path = store_backup(self.options.backups, self.run_state.run_id, backup)
        except BackupError as exc:
            return self._result(PushOutcome.FAILED, plan, reason=str(exc), error_kind="backup")
        backup_path = self.run_state.wrote(self.host.name, path)
        report = ApplyReport()
        try:
            self.control.phase(self.host.name, "applying")
            report = self._apply(_guarded(session, self._stop_check, self.line_s), plan)
            self.control.phase(self.host.name, "verifying")
            after = self._verify(session, report)
        except DeviceError as exc:
            return self._roll_back(session, backup, plan, exc, backup_path)
        outcome = PushOutcome.UNCHANGED if same_config(after, backup) else PushOutcome.CHANGED
        return self._result(
            outcome,
            plan,
            reason=self._changed_reason(),
            warnings=report.warnings,
            backup_path=backup_path,
        )

    # ------------------------------------------------------------------ restore

    def _roll_back(
        self, session: Session, backup: Backup, plan: Plan, cause: DeviceError, backup_path: str
    ) -> PushResult:
        self.control.phase(self.host.name, "restoring")
        reason = str(cause)
        stopped = isinstance(cause, Stopped)
        kind = "timeout" if isinstance(cause, Stopped) and cause.timed_out else ""
        interrupted = stopped and not kind
        limit = self.options.restore_timeout_s
        until = time.monotonic() + limit

        def result(outcome: PushOutcome, why: str) -> PushResult:
            return self._result(
                outcome, plan, reason=f"{reason}; {why}", backup_path=backup_path, error_kind=kind
            )

        def restore_check() -> str | None:
            if time.monotonic() > until:
                return f"the restore timed out after {limit:g} s"
            return None

        fresh: list[Session] = []
        attempt_cause: DeviceError = cause
        try:
            for attempt in range(2):  # one more try after a dropped session
                try:
                    if isinstance(attempt_cause, ConnectionFailure):
                        fresh.append(self.opener(self.host))  # the old session is gone
                        session = fresh[-1]
                    now = self.driver.backup(session)
                    if same_config(now, backup):
                        if attempt == 0:  # nothing had taken effect
                            if interrupted:
                                return result(PushOutcome.SKIPPED, "nothing was changed")
                            return result(PushOutcome.FAILED, "the device is unchanged")
                        break
                    self.driver.restore(_guarded(session, restore_check, self.line_s), backup)
                    now = self.driver.backup(session)
                    if not same_config(now, backup):
                        return result(
                            PushOutcome.FAILED,
                            f"restore did not bring the configuration back; backup: {backup_path}",
                        )
                    break
                except ConnectionFailure as exc:
                    if attempt == 1 or restore_check() is not None:
                        raise
                    attempt_cause = exc
        except DeviceError as exc:
            return result(
                PushOutcome.FAILED,
                f"restore failed: {exc}; the device may be inconsistent; backup: {backup_path}",
            )
        finally:
            for s in fresh:
                s.close()
        if interrupted:
            return result(PushOutcome.INTERRUPTED, "the backup was restored")
        return result(PushOutcome.ROLLED_BACK, "the backup was restored")


def _guarded(session: Session, check: StopCheck, line_s: float) -> Session:
    """A session that stops between commands. A candidate session (napalm) is left as it
    is: its change is one commit, with nothing in between to stop at."""
    if isinstance(session, CandidateSession):
        return session
    return GuardedSession(session, check, line_s=line_s)


def push_host(
    host: Host,
    *,
    run_id: str,
    options: PushOptions,
    opener: SessionOpener | None = None,
    run: RunState | None = None,
) -> PushResult:
    """Push one host (raises on connection failures before anything was changed)."""
    push = HostPush(
        host,
        get_driver(host.platform),
        opener or ssh_opener(options),
        run=run or RunState(run_id),
        options=options,
    )
    return push.run()


def result_of(outcome: HostOutcome[PushResult], run: RunState | None = None) -> PushResult:
    """A runner outcome as a PushResult (a raised error becomes `failed` with its line)."""
    if outcome.value is not None:
        return replace(outcome.value, duration_s=outcome.duration_s)
    timed_out = outcome.error_kind == TIMEOUT_KIND
    return PushResult(
        host=outcome.host.name,
        platform=outcome.host.platform,
        outcome=PushOutcome.FAILED,
        reason=redact_text(outcome.error or "unknown error", host_secrets(outcome.host)),
        duration_s=outcome.duration_s,
        backup_path=run.written.get(outcome.host.name) if run is not None else None,
        error_kind="timeout" if timed_out else "",
    )


def hard_limit_s(options: PushOptions) -> float:
    """When the runner gives up on a host: its own limit, the restore's, the lock wait and
    two connections, plus a margin. The engine stops itself well before."""
    return (
        options.timeout_s
        + options.restore_timeout_s
        + options.lock_wait_s
        + 2 * options.connect_timeout_s
        + 5.0
    )


TaskFactory = Callable[[Host, RunState, SessionOpener], PushResult]


def run_hosts(
    hosts: Sequence[Host],
    options: PushOptions,
    task: TaskFactory,
    *,
    run: RunState,
    opener: SessionOpener | None = None,
    on_done: Callable[[PushResult], None] | None = None,
) -> list[PushResult]:
    """Run `task` for every host on the threaded runner, after checking that the backups
    directory takes data (DataDirError before any device is touched)."""
    if not options.dry_run:
        check_writable(options.backups, run.run_id)
    open_ = opener or ssh_opener(options)

    def done(outcome: HostOutcome[PushResult]) -> None:
        if on_done is not None:
            on_done(result_of(outcome, run))

    outcomes = run_per_host(
        hosts,
        lambda host: task(host, run, open_),
        workers=options.workers,
        timeout_s=hard_limit_s(options),
        on_done=done,
    )
    return [result_of(o, run) for o in outcomes]


def push_hosts(
    hosts: Sequence[Host],
    options: PushOptions,
    *,
    run_id: str | None = None,
    opener: SessionOpener | None = None,
    on_done: Callable[[PushResult], None] | None = None,
    control: RunControl | None = None,
) -> tuple[str, list[PushResult]]:
    """Push every host on the threaded runner; returns (run id, results in input order)."""
    run = RunState(run_id or new_run_id(), control or RunControl())

    def task(host: Host, state: RunState, open_: SessionOpener) -> PushResult:
        return push_host(host, run_id=state.run_id, options=options, opener=open_, run=state)

    results = run_hosts(hosts, options, task, run=run, opener=opener, on_done=on_done)
    return run.run_id, results


def as_json(result: PushResult) -> dict[str, object]:
    return {**asdict(result), "outcome": result.outcome.value}
