"""`orch push` without the CLI: plan, apply, check and, on failure, restore, per host.

For each host, over one session:

    backup (stored under backups_dir()/<run-id>/<host>.json)
    -> current configuration -> render -> noop: `unchanged`
    -> apply -> re-read -> render again: must be noop (minus tolerated refusals)
    -> on any failure: restore the backup (reconnecting if the session dropped),
       re-read, and report `rolled-back` when the device is back byte for byte, else
       `failed` with the reason.

`--dry-run` reads and renders only: it never changes a device or writes a backup.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from orchestrator import paths
from orchestrator.drivers import get_driver
from orchestrator.drivers.base import ApplyReport, Backup, Driver, Plan, Session
from orchestrator.engine.runner import HostOutcome, run_per_host
from orchestrator.errors import ConnectionFailure, DeviceError
from orchestrator.models import DeviceState, Host, PushOutcome, PushResult
from orchestrator.redact import host_secrets, redact_text

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
    timeout_s: float = 120.0  # whole push of one host
    connect_timeout_s: float = 30.0
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    backups_dir: Path | None = None  # default: paths.backups_dir()


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


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


def store_backup(directory: Path, run_id: str, backup: Backup) -> Path:
    """Write the backup as JSON, readable by its owner only (it may hold key material)."""
    run_dir = directory / run_id
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / (re.sub(r"[^\w.-]", "_", backup.host) + ".json")
    data = asdict(backup)
    path.touch(mode=0o600)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def load_backup(path: Path) -> Backup:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Backup(
        host=data["host"],
        platform=data["platform"],
        config_lines=tuple(data["config_lines"]),
        files=tuple((p, c) for p, c in data["files"]),
        extra=tuple((k, v) for k, v in data["extra"]),
    )


def _current(driver: Driver, session: Session, host: Host, backup: Backup) -> DeviceState:
    if isinstance(driver, ConfigReader):
        return driver.current(backup)
    return driver.parse(host.name, driver.collect(session))


def _same(a: Backup, b: Backup) -> bool:
    """Byte-identical device state (config lines, files and the raw read-back)."""
    return (a.config_lines, a.files, a.extra) == (b.config_lines, b.files, b.extra)


class HostPush:
    """The push of one host: a small state machine over one session."""

    def __init__(
        self,
        host: Host,
        driver: Driver,
        opener: SessionOpener,
        *,
        run_id: str,
        options: PushOptions,
    ) -> None:
        self.host = host
        self.driver = driver
        self.opener = opener
        self.run_id = run_id
        self.options = options
        self.secrets = host_secrets(host)
        self.deadline = float("inf")

    def _clean(self, text: str) -> str:
        return redact_text(text, self.secrets)

    def run(self) -> PushResult:
        self.deadline = time.monotonic() + self.options.timeout_s
        session = self.opener(self.host)
        try:
            return self._run(session)
        finally:
            session.close()

    def _result(
        self,
        outcome: PushOutcome,
        plan: Plan | None,
        *,
        reason: str = "",
        warnings: Sequence[str] = (),
        backup_path: str | None = None,
    ) -> PushResult:
        all_warnings = (*(plan.warnings if plan else ()), *warnings)
        return PushResult(
            host=self.host.name,
            platform=self.host.platform,
            outcome=outcome,
            reason=reason,
            diff=plan.diff if plan is not None else "",
            warnings=tuple(self._clean(w) for w in all_warnings),
            backup_path=backup_path,
        )

    def _run(self, session: Session) -> PushResult:
        backup = self.driver.backup(session)
        plan = self.driver.render(
            self.host.desired, _current(self.driver, session, self.host, backup), backup
        )
        if plan.blocked:
            return self._result(PushOutcome.FAILED, plan, reason=self._clean(plan.blocked))
        if self.options.dry_run:
            outcome = PushOutcome.UNCHANGED if plan.is_noop else PushOutcome.DRY_RUN
            return self._result(outcome, plan)
        if plan.is_noop:
            return self._result(PushOutcome.UNCHANGED, plan)
        if time.monotonic() > self.deadline:
            # Too late to start a change we might not finish (or roll back) in time.
            return self._result(
                PushOutcome.FAILED,
                plan,
                reason=f"{self.host.name}: timed out after {self.options.timeout_s:g} s "
                "before applying; nothing was changed",
            )
        directory = self.options.backups_dir or paths.backups_dir()
        backup_path = str(store_backup(directory, self.run_id, backup))
        report = ApplyReport()
        try:
            report = self.driver.apply(session, plan)
            after = self.driver.backup(session)
            check = self.driver.render(
                self.host.desired, _current(self.driver, session, self.host, after), after
            )
            remaining = [c for c in check.commands if c not in report.skipped]
            if remaining or check.files:
                what = ", ".join(remaining[:3] or [p for p, _ in check.files[:3]])
                raise VerificationFailed(
                    f"{self.host.name}: after the push the device still differs ({what})"
                )
        except DeviceError as exc:
            return self._roll_back(session, backup, plan, exc, backup_path)
        outcome = PushOutcome.UNCHANGED if _same(after, backup) else PushOutcome.CHANGED
        return self._result(outcome, plan, warnings=report.warnings, backup_path=backup_path)

    def _roll_back(
        self, session: Session, backup: Backup, plan: Plan, cause: DeviceError, backup_path: str
    ) -> PushResult:
        reason = self._clean(str(cause))
        fresh: Session | None = None
        try:
            if isinstance(cause, ConnectionFailure):
                fresh = self.opener(self.host)  # the old session is gone
                session = fresh
            now = self.driver.backup(session)
            if _same(now, backup):
                # Nothing had taken effect: there is nothing to roll back.
                return self._result(
                    PushOutcome.FAILED,
                    plan,
                    reason=f"{reason}; the device is unchanged",
                    backup_path=backup_path,
                )
            self.driver.restore(session, backup)
            now = self.driver.backup(session)
            if not _same(now, backup):
                return self._result(
                    PushOutcome.FAILED,
                    plan,
                    reason=f"{reason}; restore did not bring the configuration back",
                    backup_path=backup_path,
                )
        except DeviceError as exc:
            return self._result(
                PushOutcome.FAILED,
                plan,
                reason=f"{reason}; restore failed: {self._clean(str(exc))}",
                backup_path=backup_path,
            )
        finally:
            if fresh is not None:
                fresh.close()
        return self._result(
            PushOutcome.ROLLED_BACK,
            plan,
            reason=f"{reason}; the backup was restored",
            backup_path=backup_path,
        )


def push_host(
    host: Host, *, run_id: str, options: PushOptions, opener: SessionOpener | None = None
) -> PushResult:
    """Push one host (raises on connection failures before anything was changed)."""
    push = HostPush(
        host,
        get_driver(host.platform),
        opener or ssh_opener(options),
        run_id=run_id,
        options=options,
    )
    return push.run()


def result_of(outcome: HostOutcome[PushResult]) -> PushResult:
    """A runner outcome as a PushResult (a raised error becomes `failed` with its line)."""
    if outcome.value is not None:
        return PushResult(**{**asdict(outcome.value), "duration_s": outcome.duration_s})
    return PushResult(
        host=outcome.host.name,
        platform=outcome.host.platform,
        outcome=PushOutcome.FAILED,
        reason=redact_text(outcome.error or "unknown error", host_secrets(outcome.host)),
        duration_s=outcome.duration_s,
    )


def push_hosts(
    hosts: Sequence[Host],
    options: PushOptions,
    *,
    run_id: str | None = None,
    opener: SessionOpener | None = None,
    on_done: Callable[[PushResult], None] | None = None,
) -> tuple[str, list[PushResult]]:
    """Push every host on the threaded runner; returns (run id, results in input order)."""
    run_id = run_id or new_run_id()
    open_ = opener or ssh_opener(options)

    def task(host: Host) -> PushResult:
        return push_host(host, run_id=run_id, options=options, opener=open_)

    def done(outcome: HostOutcome[PushResult]) -> None:
        if on_done is not None:
            on_done(result_of(outcome))

    # The engine stops itself at timeout_s before changing anything; the runner's hard
    # limit leaves room to finish (or roll back) a change that had started in time.
    hard_limit = options.timeout_s + 2 * options.connect_timeout_s
    outcomes = run_per_host(
        hosts, task, workers=options.workers, timeout_s=hard_limit, on_done=done
    )
    return run_id, [result_of(o) for o in outcomes]
