"""`orch demo`: the main job, end to end, on the built-in lab.

server -> lab -> push -> wait for convergence -> verify -> store -> HTML report.

Everything the demo starts (the NTP server, the simulated devices, the real Linux
hosts) is stopped when it returns, whatever happened. Its files (history, client log,
backups, the lab's keys and inventory) live in their own directory so that the demo
never mixes with a user's real history. Progress goes out through `on_step`; only the
CLI prints.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import paths
from orchestrator.engine.push import PushOptions, push_hosts
from orchestrator.engine.verify import VerifyRun, store_run, verify_hosts
from orchestrator.errors import LabError
from orchestrator.inventory import load_inventory, packaged_lab_inventory
from orchestrator.lab.daemon import LabOptions
from orchestrator.lab.embedded import EmbeddedLab
from orchestrator.models import PushOutcome, PushResult
from orchestrator.reports import build_input, render
from orchestrator.reports.data import ReportInput
from orchestrator.serve.config import ServerConfig
from orchestrator.serve.runner import NtpServerRunner

SERVER_ADDRESS = "127.0.0.1"
STANDARD_PORT = 123


@dataclass(frozen=True)
class DemoOptions:
    inventory: Path | None = None  # default: the lab inventory shipped with orch
    workdir: Path | None = None  # default: <data dir>/demo
    report_path: Path | None = None  # default: <workdir>/report.html
    wait_s: float = 75.0  # convergence budget after the push
    poll_interval_s: float = 1.0  # lab NTP poll interval: convergence in seconds
    ntp_port: int | None = None  # None: 123 when free, else an ephemeral port


@dataclass
class DemoResult:
    server: tuple[str, int] = ("", 0)
    notes: list[str] = field(default_factory=list)
    push: list[PushResult] = field(default_factory=list)
    verify: VerifyRun | None = None
    report: ReportInput | None = None
    report_path: Path | None = None
    duration_s: float = 0.0

    @property
    def all_compliant(self) -> bool:
        return self.verify is not None and self.verify.all_compliant

    @property
    def push_failed(self) -> list[PushResult]:
        return [r for r in self.push if r.outcome in (PushOutcome.FAILED, PushOutcome.ROLLED_BACK)]


StepCallback = Callable[[str], None]


def _port_free(address: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EPERM):
            return False
        raise
    finally:
        sock.close()
    return True


def choose_ntp_port(requested: int | None) -> int:
    """123 when we may bind it (root, nothing else there), else a free ephemeral port."""
    if requested is not None:
        return requested
    if _port_free(SERVER_ADDRESS, STANDARD_PORT):
        return STANDARD_PORT
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((SERVER_ADDRESS, 0))
        port: int = sock.getsockname()[1]
    finally:
        sock.close()
    return port


@contextlib.contextmanager
def _server(config: ServerConfig) -> Iterator[tuple[str, int]]:
    runner = NtpServerRunner(config)
    bound = runner.start()
    try:
        yield bound[0]
    finally:
        runner.stop()


def run_demo(options: DemoOptions, on_step: StepCallback = lambda _: None) -> DemoResult:
    started = time.monotonic()
    workdir = options.workdir or paths.data_dir() / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    source_inventory = options.inventory or packaged_lab_inventory()
    result = DemoResult()
    port = choose_ntp_port(options.ntp_port)
    if port != STANDARD_PORT:
        result.notes.append(
            f"UDP port {STANDARD_PORT} is taken or needs root: the demo server uses port {port} "
            "(lab devices are pointed at it)"
        )
    client_log = workdir / "server-clients.sqlite"
    client_log.unlink(missing_ok=True)  # this run's evidence only
    # A free-running local reference: the demo must not depend on the host clock being
    # synchronised (a fresh VM or container usually is not), and it must never tell
    # devices a stratum it cannot vouch for.
    server_config = ServerConfig(
        listen=(SERVER_ADDRESS,),
        port=port,
        reference="local",
        stratum=8,
        client_log=client_log,
        flush_interval_s=0.5,
    )
    on_step(f"starting the NTP server on {SERVER_ADDRESS}:{port} (local reference, stratum 8)")
    with _server(server_config) as bound:
        result.server = bound
        on_step("starting the lab (simulated IOS, CatOS, Windows; real Linux hosts if possible)")
        lab_options = LabOptions(
            inventory=source_inventory,
            poll_interval_s=options.poll_interval_s,
            ntp_port=port,
            free_ports=True,
        )
        try:
            lab = EmbeddedLab(lab_options, workdir / "lab").start()
        except OSError as exc:
            raise LabError(f"the lab could not start: {exc}") from exc
        try:
            if lab.linux_note:
                result.notes.append(lab.linux_note)
            inventory = load_inventory(lab.inventory)
            hosts = inventory.hosts
            if not hosts:
                raise LabError(f"{lab.inventory}: the lab inventory has no hosts")
            known_hosts = workdir / "known_hosts"
            on_step(f"pushing NTP client configuration to {len(hosts)} devices")
            _, result.push = push_hosts(
                hosts,
                PushOptions(
                    known_hosts=known_hosts,
                    accept_new_host_keys=True,  # the lab's keys are new on every start
                    backups_dir=workdir / "backups",
                ),
            )
            pushed = [h for h in hosts if h.name not in {r.host for r in result.push_failed}]
            on_step(f"waiting up to {options.wait_s:.0f} s for the devices to synchronise")
            run = verify_hosts(
                hosts,
                client_log_path=client_log,
                wait_s=options.wait_s if pushed else 0.0,
                poll_interval_s=2.0,
                inventory_hosts=hosts,
                known_hosts=known_hosts,
                accept_new_host_keys=True,
            )
            result.verify = run
            stored = store_run(workdir / "history.sqlite", run, hosts, site_filter=None)
            data = build_input([stored], generated_at=time.time())
            result.report = data
            report_path = options.report_path or workdir / "report.html"
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(render("html", data), encoding="utf-8")
            result.report_path = report_path
            on_step("stopping the lab and the server")
        finally:
            lab.stop()
    result.duration_s = time.monotonic() - started
    return result
