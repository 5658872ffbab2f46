"""`orch verify` without the CLI: collect each device, judge it, re-poll until converged.

    verify_hosts(hosts, workers=, timeout_s=, client_log_path=, wait_s=, ...) -> VerifyRun

Collection runs on the threaded runner (one failing device never stops the others);
judging is the pure compliance evaluator, fed with our server's client log (re-read
at most once a second as devices finish) so the two-sided check sees who really polls
us. Raw outputs are redacted of the host's secrets before they leave this module.
`store_run` saves a run in the history for the reports.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.compliance import evaluate, index_client_log, unknown_clients
from orchestrator.engine.locks import device_lock
from orchestrator.engine.runner import HostOutcome, run_per_host
from orchestrator.errors import ParseError
from orchestrator.models import ClientLogEntry, ConfiguredNtp, DeviceState, DeviceVerdict, Host
from orchestrator.redact import host_secrets, redact_state, redact_text
from orchestrator.store.engine import StoreError
from orchestrator.store.history import HistoryStore
from orchestrator.store.records import StoredRun
from orchestrator.store.target import StoreTarget


@dataclass(frozen=True)
class Collected:
    """What one collection produced: a parsed state, or the raw text and why it failed."""

    state: DeviceState | None
    error: str | None = None
    raw: tuple[tuple[str, str], ...] = ()


Collector = Callable[[Host], Collected]
ClientLogReader = Callable[[Path], list[ClientLogEntry]]


@dataclass(frozen=True)
class VerifyRun:
    started_at: float  # Unix time, seconds
    finished_at: float
    verdicts: tuple[DeviceVerdict, ...]  # in the order of the hosts given
    unknown_clients: tuple[ClientLogEntry, ...]  # poll our server, not in the inventory
    client_log_available: bool  # False: the two-sided check was skipped
    rounds: int  # 1 + re-polls made while waiting for convergence

    @property
    def noncompliant(self) -> tuple[DeviceVerdict, ...]:
        return tuple(v for v in self.verdicts if not v.complies)

    @property
    def all_compliant(self) -> bool:
        return not self.noncompliant


def ssh_collector(
    *,
    timeout_s: float,
    known_hosts: Path | None = None,
    accept_new_host_keys: bool = False,
    locks_dir: Path | None = None,
) -> Collector:
    """Collect over SSH with each platform's driver, then parse (pure).

    With `locks_dir`, a device another orch run is changing (push) is read once that run
    is done with it (waiting up to `timeout_s`), never half-way through its change."""
    # Imported here so that judging stored or simulated states needs no SSH stack.
    from orchestrator.drivers import get_driver
    from orchestrator.drivers.session import open_session

    def collect(host: Host) -> Collected:
        driver = get_driver(host.platform)
        lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if locks_dir is not None:
            lock = device_lock(
                locks_dir, host.name, what="verify", exclusive=False, wait_s=timeout_s / 2
            )
        with (
            lock,
            open_session(
                host,
                timeout_s=timeout_s,
                known_hosts=known_hosts,
                accept_new_host_keys=accept_new_host_keys,
            ) as session,
        ):
            raw = dict(driver.collect(session))
        try:
            return Collected(driver.parse(host.name, raw))
        except ParseError as exc:
            return Collected(None, f"unreadable output: {exc}", tuple(raw.items()))

    return collect


class _ClientLogView:
    """Our server's client log, re-read when older than `refresh_s`.

    Devices are judged one by one as their collection finishes; a snapshot taken when
    the round started would miss devices that first polled us during the round and
    call them liars. The server flushes its log every few seconds, so re-reading more
    often than once a second gains nothing.
    """

    def __init__(
        self,
        path: Path | None,
        reader: ClientLogReader | None,
        clock: Callable[[], float],
        refresh_s: float = 1.0,
    ) -> None:
        self.path = path
        self.reader = reader
        self.clock = clock
        self.refresh_s = refresh_s
        self._log: Mapping[str, ClientLogEntry] | None = None
        self._read_at = float("-inf")

    def get(self) -> Mapping[str, ClientLogEntry] | None:
        now = self.clock()
        if now - self._read_at >= self.refresh_s:
            self._log = self._read()
            self._read_at = now
        return self._log

    def _read(self) -> Mapping[str, ClientLogEntry] | None:
        if self.path is None or not self.path.exists():
            return None
        reader = self.reader
        if reader is None:
            from orchestrator.serve.clientlog_store import read_client_log

            reader = read_client_log
        return index_client_log(reader(self.path))


def _judge(
    outcome: HostOutcome[Collected],
    client_log: Mapping[str, ClientLogEntry] | None,
    now: float,
) -> DeviceVerdict:
    host = outcome.host
    secrets = host_secrets(host)
    collected = outcome.value
    if collected is None or collected.state is None:
        error = outcome.error or (collected.error if collected else None) or "no state collected"
        evidence = None
        if collected is not None and collected.raw:
            evidence = redact_state(
                DeviceState(host.name, host.platform, ConfiguredNtp(), (), None, collected.raw),
                secrets,
            )
        return evaluate(
            host, evidence, client_log, now=now, connection_error=redact_text(error, secrets)
        )
    return evaluate(host, redact_state(collected.state, secrets), client_log, now=now)


def verify_hosts(
    hosts: Sequence[Host],
    *,
    workers: int = 50,
    timeout_s: float = 30.0,
    client_log_path: Path | None = None,
    wait_s: float = 0.0,
    poll_interval_s: float = 5.0,
    on_done: Callable[[DeviceVerdict], None] | None = None,
    inventory_hosts: Sequence[Host] | None = None,
    collector: Collector | None = None,
    known_hosts: Path | None = None,
    accept_new_host_keys: bool = False,
    client_log_reader: ClientLogReader | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    locks_dir: Path | None = None,
) -> VerifyRun:
    """Collect and judge every host; with `wait_s > 0`, re-poll the non-compliant ones
    every `poll_interval_s` until all comply or `wait_s` has passed.

    `inventory_hosts` is the whole inventory (for clients that poll us but are unknown);
    it defaults to `hosts`. `on_done` is called in this thread for every judgement.
    """
    collect = collector or ssh_collector(
        timeout_s=timeout_s,
        known_hosts=known_hosts,
        accept_new_host_keys=accept_new_host_keys,
        locks_dir=locks_dir,
    )
    started = clock()
    deadline = started + max(0.0, wait_s)
    verdicts: dict[str, DeviceVerdict] = {}
    pending = list(hosts)
    rounds = 0
    log_view = _ClientLogView(client_log_path, client_log_reader, clock)
    while pending:
        rounds += 1

        def judged(outcome: HostOutcome[Collected]) -> None:
            verdict = _judge(outcome, log_view.get(), clock())
            verdicts[outcome.host.name] = verdict
            if on_done is not None:
                on_done(verdict)

        run_per_host(pending, collect, workers=workers, timeout_s=timeout_s, on_done=judged)
        pending = [h for h in pending if not verdicts[h.name].complies]
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        sleep(min(poll_interval_s, remaining))

    now = clock()
    client_log = log_view.get()
    strangers: tuple[ClientLogEntry, ...] = ()
    if client_log is not None:
        strangers = unknown_clients(inventory_hosts or hosts, client_log, now=now)
    return VerifyRun(
        started_at=started,
        finished_at=now,
        verdicts=tuple(verdicts[h.name] for h in hosts),
        unknown_clients=strangers,
        client_log_available=client_log is not None,
        rounds=rounds,
    )


def store_run(
    db_path: Path | str | StoreTarget,
    run: VerifyRun,
    hosts: Sequence[Host],
    *,
    site_filter: str | None = None,
    host_filter: Sequence[str] = (),
    keep_days: float | None = None,
    keep_evidence_days: float | None = None,
) -> StoredRun:
    """Save `run` in the history at `db_path` (a file, URL or target; secrets of `hosts`
    masked), prune the run's sites' runs older than `keep_days` (and raw evidence older
    than `keep_evidence_days`) if given, and return the run as stored (for the reports).
    Retention touches only the sites of this run: other sites' collectors keep theirs."""
    with HistoryStore(db_path) as store:
        run_id = store.save_run(
            run.verdicts,
            started_at=run.started_at,
            finished_at=run.finished_at,
            site_filter=site_filter,
            host_filter=tuple(host_filter),
            unknown_clients=run.unknown_clients,
            secrets={h.name: host_secrets(h) for h in hosts},
        )
        if keep_days is not None:
            # Relative to this run's start, so the run just stored is always kept.
            try:
                store.prune(
                    keep_days=keep_days,
                    now=run.started_at,
                    detail_days=keep_evidence_days,
                    sites={v.site for v in run.verdicts},
                )
            except StoreError as exc:  # the run is stored; the next one prunes again
                logging.getLogger(__name__).warning("retention skipped: %s", exc)
        stored = store.get_run(run_id)
    assert stored is not None  # written and kept above
    return stored
