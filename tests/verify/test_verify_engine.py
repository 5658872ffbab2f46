"""verify_hosts: per-host failures, convergence polling, the server's real client log."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from compliance.compliance_samples import host, ios_state

from orchestrator.engine.verify import Collected, verify_hosts
from orchestrator.errors import ConnectionFailure
from orchestrator.models import ClientLogEntry, DeviceVerdict, Host, Secret, Verdict
from orchestrator.serve.clientlog_store import ClientLogStore


class FakeClock:
    """Time that moves only when the engine sleeps, so polling tests take no real time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fleet() -> list[Host]:
    return [host(f"rtr{i}", hostname=f"10.1.1.{i}") for i in range(1, 4)]


def test_one_failing_device_does_not_stop_the_others() -> None:
    def collect(h: Host) -> Collected:
        if h.name == "rtr2":
            raise ConnectionFailure("rtr2 (10.1.1.2:22): connection refused")
        return Collected(dataclasses.replace(ios_state(), host=h.name))

    seen: list[DeviceVerdict] = []
    run = verify_hosts(fleet(), workers=3, collector=collect, on_done=seen.append)
    assert [v.host for v in run.verdicts] == ["rtr1", "rtr2", "rtr3"]
    assert [v.verdict for v in run.verdicts] == [
        Verdict.COMPLIANT,
        Verdict.UNREACHABLE,
        Verdict.COMPLIANT,
    ]
    assert "connection refused" in run.verdicts[1].reason
    assert sorted(v.host for v in seen) == ["rtr1", "rtr2", "rtr3"]
    assert run.rounds == 1 and not run.all_compliant and not run.client_log_available


def test_wait_repolls_only_the_noncompliant_until_they_converge() -> None:
    clock = FakeClock()
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def collect(h: Host) -> Collected:
        with lock:
            calls[h.name] = calls.get(h.name, 0) + 1
            n = calls[h.name]
        # rtr3 needs three polls before its reach register lets it select our server.
        synced = h.name != "rtr3" or n >= 3
        state = ios_state(synced=synced, reach_octal="377" if synced else "3")
        return Collected(dataclasses.replace(state, host=h.name))

    run = verify_hosts(
        fleet(), collector=collect, wait_s=60, poll_interval_s=5, clock=clock, sleep=clock.sleep
    )
    assert run.all_compliant and run.rounds == 3
    assert calls == {"rtr1": 1, "rtr2": 1, "rtr3": 3}
    assert clock.sleeps == [5, 5]


def test_wait_gives_up_when_time_runs_out() -> None:
    clock = FakeClock()

    def collect(h: Host) -> Collected:
        return Collected(ios_state(synced=False, reach_octal="0"))

    run = verify_hosts(
        [host()], collector=collect, wait_s=12, poll_interval_s=5, clock=clock, sleep=clock.sleep
    )
    assert run.verdicts[0].verdict is Verdict.UNSYNCHRONISED
    assert clock.sleeps == [5, 5, 2] and run.rounds == 4


def test_unparseable_output_keeps_the_raw_evidence() -> None:
    raw = (("show ntp associations", "% Invalid input detected at '^' marker.\n"),)

    def collect(h: Host) -> Collected:
        return Collected(None, "unreadable output: no template matched line 1", raw)

    run = verify_hosts([host()], collector=collect)
    v = run.verdicts[0]
    assert v.verdict is Verdict.UNREACHABLE and "no template matched" in v.reason
    assert v.state is not None and v.state.raw == raw


def test_secrets_of_the_host_are_masked_in_evidence_and_errors() -> None:
    h = dataclasses.replace(host(), password=Secret("hunter2-pass"))

    def collect(x: Host) -> Collected:
        state = ios_state()
        state = dataclasses.replace(state, raw=(*state.raw, ("echo", "login hunter2-pass ok")))
        return Collected(state)

    run = verify_hosts([h], collector=collect)
    assert "hunter2-pass" not in repr(run.verdicts[0].state)

    def refuse(x: Host) -> Collected:
        raise ConnectionFailure("bad password hunter2-pass")

    assert "hunter2-pass" not in verify_hosts([h], collector=refuse).verdicts[0].reason


def test_two_sided_check_reads_the_servers_client_log(tmp_path: Path) -> None:
    clock = FakeClock()
    log_path = tmp_path / "server-clients.sqlite"
    store = ClientLogStore(log_path)  # the server's own writer
    store.add(
        [
            ClientLogEntry("10.1.1.1", clock.now - 600, clock.now - 20, 10, 10, 0, 0, None),
            ClientLogEntry("10.77.0.5", clock.now - 600, clock.now - 30, 10, 10, 0, 0, None),
        ]
    )
    store.close()

    def collect(h: Host) -> Collected:
        return Collected(dataclasses.replace(ios_state(), host=h.name))

    hosts = fleet()[:2]
    run = verify_hosts(hosts, collector=collect, client_log_path=log_path, clock=clock)
    assert run.client_log_available
    assert run.verdicts[0].verdict is Verdict.COMPLIANT
    # rtr2 says it follows our server, but the server never heard from 10.1.1.2.
    assert run.verdicts[1].verdict is Verdict.SYNCED_ELSEWHERE
    assert "never from 10.1.1.2" in run.verdicts[1].reason
    assert [e.address for e in run.unknown_clients] == ["10.77.0.5"]
    # Without a log file the check is skipped, not failed.
    skipped = verify_hosts(hosts, collector=collect, client_log_path=tmp_path / "none.sqlite")
    assert skipped.all_compliant and not skipped.client_log_available


def test_client_log_is_reread_as_devices_are_judged(tmp_path: Path) -> None:
    """A device that first polls us during the round is found, not called a liar."""
    clock = FakeClock()
    start = clock.now
    first_poll = {"10.1.1.1": start + 1.0, "10.1.1.2": start + 2.5}
    log_file = tmp_path / "clients.sqlite"
    log_file.touch()

    def reader(path: Path) -> list[ClientLogEntry]:
        return [
            ClientLogEntry(addr, t, t, 1, 1, 0, 0, None)
            for addr, t in first_poll.items()
            if t <= clock.now  # what the server had flushed by then
        ]

    def collect(h: Host) -> Collected:
        clock.now += 1.5  # each collection takes 1.5 s
        return Collected(dataclasses.replace(ios_state(), host=h.name))

    run = verify_hosts(
        fleet()[:2],
        workers=1,
        collector=collect,
        client_log_path=log_file,
        client_log_reader=reader,
        clock=clock,
    )
    assert [v.verdict for v in run.verdicts] == [Verdict.COMPLIANT, Verdict.COMPLIANT]


def test_store_run_keeps_the_new_run_and_prunes_old_ones(tmp_path: Path) -> None:
    from orchestrator.engine.verify import store_run
    from orchestrator.store import DAY_S, HistoryStore

    db = tmp_path / "history.sqlite"

    def collect(h: Host) -> Collected:
        state = ios_state()
        raw = (*state.raw, ("show running-config", "username admin secret s3cr3t-Pw"))
        return Collected(dataclasses.replace(state, host=h.name, raw=raw))

    hosts = [dataclasses.replace(host(), password=Secret("s3cr3t-Pw"))]
    old = verify_hosts(hosts, collector=collect, clock=FakeClock(1_700_000_000.0))
    store_run(db, old, hosts)
    new = verify_hosts(hosts, collector=collect, clock=FakeClock(1_700_000_000.0 + 10 * DAY_S))
    stored = store_run(db, new, hosts, site_filter="hq", keep_days=0)
    assert stored.site_filter == "hq" and stored.devices[0].verdict is Verdict.COMPLIANT
    with HistoryStore(db) as store:
        assert [r.id for r in store.runs()] == [stored.id]  # the old run is gone
    assert b"s3cr3t-Pw" not in db.read_bytes()
