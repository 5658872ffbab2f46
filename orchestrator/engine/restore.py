"""`orch push --restore RUN_ID`: put devices back to the backups a run took.

A restore is a push whose desired state is the backup: the same lock, a backup of what
the device has now (in a run of its own, so the restore can be undone too), the same
add-before-remove order, time limit, interrupt handling and verification, and a restore
of that fresh backup if putting the old one back fails half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestrator.drivers import get_driver
from orchestrator.drivers.base import ApplyReport, Backup, Driver, Plan, Session
from orchestrator.engine.backups import RunBackups, load_backup
from orchestrator.engine.push import (
    HostPush,
    PushOptions,
    RunState,
    SessionOpener,
    VerificationFailed,
    new_run_id,
    run_hosts,
    same_config,
)
from orchestrator.engine.signals import RunControl
from orchestrator.models import Host, PushOutcome, PushResult


class HostRestore(HostPush):
    what = "restore"

    def __init__(
        self,
        host: Host,
        driver: Driver,
        opener: SessionOpener,
        *,
        target: Backup,
        source_run: str,
        run: RunState,
        options: PushOptions,
    ) -> None:
        super().__init__(host, driver, opener, run=run, options=options)
        self.target = target
        self.source_run = source_run

    def _plan(self, session: Session, backup: Backup) -> Plan:
        if same_config(backup, self.target):
            return Plan(host=self.host.name, platform=self.host.platform)
        return Plan(
            host=self.host.name,
            platform=self.host.platform,
            commands=(f"restore the backup of run {self.source_run}",),
        )

    def _apply(self, session: Session, plan: Plan) -> ApplyReport:
        self.driver.restore(session, self.target)
        return ApplyReport(applied=plan.commands)

    def _verify(self, session: Session, report: ApplyReport) -> Backup:
        after = self.driver.backup(session)
        if not same_config(after, self.target):
            raise VerificationFailed(
                f"{self.host.name}: after the restore the device still differs from the "
                f"backup of run {self.source_run}"
            )
        return after

    def _changed_reason(self) -> str:
        return f"restored the backup of run {self.source_run}"


def restore_hosts(
    hosts: Sequence[Host],
    source: RunBackups,
    options: PushOptions,
    *,
    opener: SessionOpener | None = None,
    on_done: Callable[[PushResult], None] | None = None,
    control: RunControl | None = None,
    run_id: str | None = None,
) -> tuple[str, list[PushResult]]:
    """Restore each host to its backup in `source`; returns (this run's id, results).

    A host without a backup in that run is `skipped`; this run's own backups (what the
    devices had before the restore) go under a new run id."""
    run = RunState(run_id or new_run_id(), control or RunControl())

    def task(host: Host, state: RunState, open_: SessionOpener) -> PushResult:
        path = source.hosts.get(host.name)
        if path is None:
            return PushResult(
                host.name,
                host.platform,
                PushOutcome.SKIPPED,
                reason=f"{host.name}: run {source.run_id} has no backup of this device",
            )
        target = load_backup(path)
        if target.platform != host.platform:
            return PushResult(
                host.name,
                host.platform,
                PushOutcome.FAILED,
                reason=f"{host.name}: the backup in {path} is of a {target.platform} device, "
                f"the inventory says {host.platform}; nothing was changed",
            )
        push = HostRestore(
            host,
            get_driver(host.platform),
            open_,
            target=target,
            source_run=source.run_id,
            run=state,
            options=options,
        )
        return push.run()

    return run.run_id, run_hosts(hosts, options, task, run=run, opener=opener, on_done=on_done)
