"""Run the NTP server: bind, start workers, track the reference, stop cleanly.

    runner = NtpServerRunner(ServerConfig(listen=("127.0.0.1",), port=0, reference="local"))
    (host, port), = runner.start()      # bound addresses; port 0 -> an ephemeral port
    ...
    runner.stop()

or as a context manager. With `workers == 1` the worker is a thread of this
process (tests, the demo); with more, each worker is a forked process with its
own SO_REUSEPORT socket per address, so the kernel spreads clients over the
cores. A tracker thread refreshes the reference state and sends it to the
workers over pipes; stopping sends `None` down the same pipes.

Worker processes end with the runner however it ends (serve/worker.die_with_parent):
the kernel signals them when the thread that started them exits, so call start()
from a thread that lives as long as the server (the main thread, in `orch server run`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from types import TracebackType
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError, ServerError
from orchestrator.ntp import packet as pk
from orchestrator.ntp.server import ServerPolicy, SystemState
from orchestrator.serve import hostclock
from orchestrator.serve.clientlog_store import ClientLogStore
from orchestrator.serve.config import ServerConfig, build_policy
from orchestrator.serve.reference import (
    HostReference,
    LocalReference,
    Reference,
    UpstreamReference,
    parse_server,
)
from orchestrator.serve.udp import ServerSocket, open_socket, steer_by_source
from orchestrator.serve.worker import Worker, worker_main

if TYPE_CHECKING:  # pyOpenSSL is imported only when NTS is on
    from OpenSSL import SSL

    from orchestrator.serve.ntske import NtsKeServer

log = logging.getLogger(__name__)


def make_reference(config: ServerConfig, precision: int) -> Reference:
    if config.reference == "local":
        return LocalReference(config.stratum, precision)
    if config.reference == "upstream":
        servers = [parse_server(s) for s in config.upstream]
        return UpstreamReference(servers, precision, max_offset_s=config.max_offset_s)
    return HostReference(
        precision, config.stratum, config.chronyc_socket, max_offset_s=config.max_offset_s
    )


@dataclass
class _WorkerHandle:
    control: Connection
    thread: threading.Thread | None = None
    process: multiprocessing.process.BaseProcess | None = None

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
        if self.process is not None:
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.terminate()  # our own child, by handle
                self.process.join(1.0)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe_state(state: SystemState, reference: str) -> dict[str, str]:
    """The reference state as stored in the client log's meta table (text values)."""
    return {
        "leap": str(state.leap),
        "stratum": str(state.stratum),
        "refid": _refid(state, reference),
        "synchronised": "yes" if state.synchronised else "no",
        "root_delay_s": f"{state.root_delay_s:.6f}",
        "root_dispersion_s": f"{state.root_dispersion_s:.6f}",
        "precision": str(state.precision),
    }


def _refid(state: SystemState, reference: str) -> str:
    # Our own local clock's refid is the ASCII code LOCL at any stratum; ntpq's
    # dotted-quad rule (stratum >= 2) is for upstream IPv4 addresses.
    if reference == "local":
        return pk.refid_text(state.ref_id, 0)
    return pk.refid_text(state.ref_id, state.stratum if state.stratum < 16 else 0)


MetaValue = str | int | float | bool | None

# How each stored meta value (text, see _meta/describe_state) reads back as a typed value.
_META_TYPES: dict[str, Callable[[str], MetaValue]] = {
    "pid": int,
    "started": float,
    "stopped": float,
    "updated": float,
    "workers": int,
    "ratelimit": lambda v: {"on": True, "off": False}[v],
    "leap": int,
    "stratum": int,
    "synchronised": lambda v: {"yes": True, "no": False}[v],
    "root_delay_s": float,
    "root_dispersion_s": float,
    "precision": int,
}
_OLD_LOCAL_REFID = ".".join(str(b) for b in b"LOCL")  # written by versions before _refid()


def upgrade_meta(meta: Mapping[str, str]) -> dict[str, str]:
    """Stored meta with values older versions wrote wrongly corrected (text values)."""
    fixed = dict(meta)
    if fixed.get("reference") == "local" and fixed.get("refid") == _OLD_LOCAL_REFID:
        fixed["refid"] = "LOCL"
    return fixed


def typed_meta(meta: Mapping[str, str]) -> dict[str, MetaValue]:
    """Stored meta as JSON-ready typed values; an unreadable number or flag is None."""
    typed: dict[str, MetaValue] = {}
    for key, text in upgrade_meta(meta).items():
        parse = _META_TYPES.get(key)
        if parse is None:
            typed[key] = text
            continue
        try:
            typed[key] = parse(text)
        except (ValueError, KeyError):
            typed[key] = None
    return typed


class NtpServerRunner:
    """The server as an object: start() -> bound addresses, stop()."""

    def __init__(self, config: ServerConfig, *, reference: Reference | None = None) -> None:
        self.config = config
        self._reference = reference
        self._workers: list[_WorkerHandle] = []
        self._sockets: list[ServerSocket] = []
        self._stop = threading.Event()
        self._tracker: threading.Thread | None = None
        self._store: ClientLogStore | None = None
        self.addresses: list[tuple[str, int]] = []
        self.policy: ServerPolicy | None = None
        self.state: SystemState | None = None
        self.thread_worker: Worker | None = None  # the in-process worker (workers == 1)
        self.ntske: NtsKeServer | None = None  # the NTS-KE server, when NTS is on
        self.nts_addresses: list[tuple[str, int]] = []
        self._send_lock = threading.Lock()  # the tracker and the NTS-KE thread share the pipes

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> list[tuple[str, int]]:
        if self._workers:
            raise ServerError("the server is already running")
        cfg = self.config
        self.policy = build_policy(cfg)
        nts_context = None
        if cfg.nts:  # lazily: pyOpenSSL only matters with NTS on
            from orchestrator.serve.ntske import load_key_ring, tls_context

            if cfg.nts_cert is None or cfg.nts_key is None:
                raise ConfigError("NTS needs both --nts-cert and --nts-key")
            nts_context = tls_context(cfg.nts_cert, cfg.nts_key)
            ring = load_key_ring(
                cfg.nts_keys_path, time.time(), cfg.nts_rotate_s, cfg.nts_keep_keys
            )
            self.policy = replace(self.policy, nts_keys=ring)
        precision = hostclock.measure_precision()
        reference = self._reference or make_reference(cfg, precision)
        self._reference = reference
        self.state = reference.update()
        per_worker = self._bind(cfg.worker_count)
        try:
            self._start_workers(per_worker)
            if nts_context is not None:  # after the fork: no threads in the children
                self._start_ntske(nts_context)
        except BaseException:
            self.stop()
            raise
        self._tracker = threading.Thread(target=self._track, name="ntp-reference", daemon=True)
        self._tracker.start()
        return self.addresses

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self.ntske is not None:
            self.ntske.stop()
            self.ntske = None
        if self._tracker is not None:
            self._tracker.join(timeout_s)
        for w in self._workers:
            with contextlib.suppress(OSError):
                w.control.send(None)
        for w in self._workers:
            w.join(timeout_s)
            w.control.close()
        self._workers = []
        for s in self._sockets:
            s.close()
        self._sockets = []
        if self._reference is not None:
            self._reference.close()
        if self._store is not None:
            self._store.set_meta({"stopped": f"{time.time():.3f}"})
            self._store.close()
            self._store = None

    def wait(self) -> None:
        """Block until stop() is called (from a signal handler or another thread)."""
        while not self._stop.wait(0.5):
            for w in self._workers:
                dead = (w.process is not None and not w.process.is_alive()) or (
                    w.thread is not None and not w.thread.is_alive()
                )
                if dead and not self._stop.is_set():  # not stopping with the rest
                    raise ServerError("a server worker stopped unexpectedly; see the log")

    def request_stop(self) -> None:
        """Ask wait() to return (safe from a signal handler)."""
        self._stop.set()

    def __enter__(self) -> NtpServerRunner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _start_workers(self, per_worker: list[list[ServerSocket]]) -> None:
        cfg = self.config
        assert self.policy is not None and self.state is not None
        n = len(per_worker)
        store_path = cfg.client_log_path if cfg.persist_client_log else None
        if store_path is not None:
            self._store = ClientLogStore(store_path)
            self._store.reset_counters()
            self._store.set_meta(self._meta())
        if n == 1:
            recv_end, send_end = multiprocessing.Pipe(duplex=False)
            worker = Worker(
                per_worker[0],
                self.policy,
                self.state,
                recv_end,
                store_path,
                cfg.flush_interval_s,
                cfg.tx_compensation,
            )
            self.thread_worker = worker
            t = threading.Thread(target=worker.run, name="ntp-worker", daemon=True)
            t.start()
            self._workers.append(_WorkerHandle(send_end, thread=t))
        else:
            ctx = multiprocessing.get_context("fork")
            for socks in per_worker:
                recv_end, send_end = ctx.Pipe(duplex=False)
                p = ctx.Process(
                    target=worker_main,
                    args=(
                        socks,
                        self.policy,
                        self.state,
                        recv_end,
                        store_path,
                        cfg.flush_interval_s,
                        cfg.tx_compensation,
                        os.getpid(),
                        tuple(w.control for w in self._workers),
                    ),
                    name="orch-ntp-worker",
                    daemon=True,
                )
                p.start()
                recv_end.close()
                self._workers.append(_WorkerHandle(send_end, process=p))
            # the children own the sockets now; the parent keeps no copy that could linger
            for s in self._sockets:
                s.close()
            self._sockets = []

    def _start_ntske(self, context: SSL.Context) -> None:
        from orchestrator.ntp.access import AccessControl
        from orchestrator.serve.ntske import KE_RATELIMIT, NtsKeServer

        cfg = self.config
        assert self.policy is not None and self.policy.nts_keys is not None
        self.ntske = NtsKeServer(
            context,
            self.policy.nts_keys,
            access=AccessControl(self.policy.access),
            ntp_port=cfg.nts_ntp_port or self.addresses[0][1],
            publish=self._broadcast,
            keys_file=cfg.nts_keys_path,
            store_path=cfg.client_log_path if cfg.persist_client_log else None,
            flush_interval_s=cfg.flush_interval_s,
            ratelimit=KE_RATELIMIT if cfg.ratelimit is not None else None,
        )
        self.nts_addresses = self.ntske.start(cfg.listen, cfg.nts_port)
        if self._store is not None:
            self._store.set_meta({"nts": " ".join(_hostport(h, p) for h, p in self.nts_addresses)})

    def _broadcast(self, message: object) -> None:
        """Send a SystemState or an NTS KeyRing to every worker."""
        with self._send_lock:
            for w in self._workers:
                with contextlib.suppress(OSError):
                    w.control.send(message)

    def _bind(self, n: int) -> list[list[ServerSocket]]:
        per_worker: list[list[ServerSocket]] = [[] for _ in range(n)]
        try:
            port = self.config.port
            for host in self.config.listen:
                first = open_socket(host, port, self.config.rcvbuf_bytes, exclusive=True)
                self._sockets.append(first)
                # port 0: every worker and address shares the port the kernel chose
                port = first.address[1]
                self.addresses.append((host, port))
                per_worker[0].append(first)
                for i in range(1, n):
                    s = open_socket(host, port, self.config.rcvbuf_bytes)
                    self._sockets.append(s)
                    per_worker[i].append(s)
                # one worker per client address: its rate-limit bucket and log are whole
                if n > 1 and not steer_by_source(first, n):
                    log.warning(
                        "%s: clients not steered by address; rate limits are per worker",
                        _hostport(host, port),
                    )
        except ServerError:
            for s in self._sockets:
                s.close()
            self._sockets = []
            self.addresses = []
            raise
        return per_worker

    def _meta(self) -> dict[str, str]:
        assert self.state is not None and self._reference is not None
        return {
            "pid": str(os.getpid()),
            "started": f"{time.time():.3f}",
            "listen": " ".join(
                f"{h}:{p}" if ":" not in h else f"[{h}]:{p}" for h, p in self.addresses
            ),
            "reference": self._reference.name,
            "workers": str(self.config.worker_count),
            "ratelimit": "on" if self.config.ratelimit else "off",
            "nts": "off",
            "updated": f"{time.time():.3f}",
            **describe_state(self.state, self._reference.name),
        }

    def _track(self) -> None:
        assert self._reference is not None
        reference = self._reference
        last = self.state
        while not self._stop.wait(reference.interval_s):
            try:
                state = reference.update()
            except Exception as exc:  # the server keeps serving the last state
                log.warning("reference %s update failed: %s", reference.name, exc)
                continue
            if state == last:
                continue
            self.state = last = state
            self._broadcast(state)
            if self._store is not None:
                try:
                    self._store.set_meta(
                        {"updated": f"{time.time():.3f}", **describe_state(state, reference.name)}
                    )
                except Exception as exc:
                    log.warning("client log meta not updated: %s", exc)
