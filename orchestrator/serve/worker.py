"""One server worker: read datagrams, let the core decide, send replies, persist the log.

A worker owns one socket per listen address (all in the same SO_REUSEPORT groups
as the other workers' sockets) and one `NtpServerCore`. It runs in a thread
(in-process runner) or in its own process (one per core). The runner talks to it
over a pipe: a `SystemState` installs a new reference state, `None` stops it.
Every `flush_interval_s` it adds its client-log and counter deltas to the SQLite
store, so the store is right whichever worker a client's packets hash to.
"""

from __future__ import annotations

import logging
import random
import selectors
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

from orchestrator.models import ClientLogEntry
from orchestrator.ntp.server import NtpServerCore, Respond, ServerPolicy, SystemState
from orchestrator.serve.clientlog_store import ClientLogStore
from orchestrator.serve.udp import (
    ANC_BUFSIZE,
    RECV_BUFSIZE,
    TIMESPEC,
    ServerSocket,
    parse_ancillary,
)

log = logging.getLogger(__name__)

BATCH = 256  # datagrams drained per readiness event before looking at the pipe again


class Worker:
    def __init__(
        self,
        sockets: list[ServerSocket],
        policy: ServerPolicy,
        state: SystemState,
        control: Connection,
        store_path: Path | None,
        flush_interval_s: float = 2.0,
    ) -> None:
        self.sockets = sockets
        self.core = NtpServerCore(policy, state)
        self.control = control
        self.store_path = store_path
        self.flush_interval_s = flush_interval_s
        self._flushed: dict[str, int] = {}
        self._unwritten: list[ClientLogEntry] = []
        self.send_errors = 0

    def run(self) -> None:
        store = ClientLogStore(self.store_path) if self.store_path is not None else None
        sel = selectors.DefaultSelector()
        for s in self.sockets:
            sel.register(s.sock, selectors.EVENT_READ, s)
        sel.register(self.control, selectors.EVENT_READ, None)
        next_flush = time.monotonic() + self.flush_interval_s
        running = True
        try:
            while running:
                for key, _ in sel.select(timeout=self.flush_interval_s):
                    if key.data is None:
                        running = self._control()
                    else:
                        self._drain(key.data)
                if store is not None and time.monotonic() >= next_flush:
                    self._flush(store)
                    next_flush = time.monotonic() + self.flush_interval_s
        finally:
            sel.close()
            if store is not None:
                self._flush(store)
                store.close()

    def _control(self) -> bool:
        try:
            msg = self.control.recv()
        except (EOFError, OSError):
            return False  # the runner is gone
        if msg is None:
            return False
        if isinstance(msg, SystemState):
            self.core.set_state(msg)
        return True

    def _drain(self, ss: ServerSocket) -> None:
        # Locals and an inlined timestamp cmsg: this is the hot loop.
        sock = ss.sock
        recvmsg = sock.recvmsg
        sendto = sock.sendto
        wildcard = ss.wildcard
        handle = self.core.handle
        time_ns = time.time_ns
        getrandbits = random.getrandbits
        unpack_ts = TIMESPEC.unpack_from
        reply_cmsg: list[tuple[int, int, bytes]] | None = None
        for _ in range(BATCH):
            try:
                data, anc, _flags, addr = recvmsg(RECV_BUFSIZE, ANC_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. ICMP errors queued on the socket
            if wildcard:
                rx_ns, reply_cmsg = parse_ancillary(anc)
            elif anc:  # bound to one address: the only cmsg is SO_TIMESTAMPNS
                sec, nsec = unpack_ts(anc[0][2])
                rx_ns = sec * 1_000_000_000 + nsec
            else:
                rx_ns = None
            host = addr[0]
            if host.startswith("::ffff:"):
                host = host[7:]
            out = handle(host, rx_ns or time_ns(), data, time_ns, getrandbits(96))
            if type(out) is Respond:
                try:
                    if reply_cmsg is not None:
                        sock.sendmsg([out[0]], reply_cmsg, 0, addr)
                    else:
                        sendto(out[0], addr)
                except OSError:
                    self.send_errors += 1

    def _flush(self, store: ClientLogStore) -> None:
        counters = dict(self.core.counters)
        counters["send-errors"] = self.send_errors
        counters["client-log-evicted"] = self.core.client_log.evicted
        delta = {k: v - self._flushed.get(k, 0) for k, v in counters.items()}
        # deltas a failed flush could not write go out with the next one (bounded)
        entries = self._unwritten + self.core.client_log.take_deltas()
        try:
            store.add(entries, delta)
        except Exception as exc:  # a busy or broken log must never stop the server
            log.warning("client log %s not updated: %s", self.store_path, exc)
            self._unwritten = entries[-self.core.policy.max_clients :]
            return
        self._unwritten = []
        self._flushed = counters


def drop_privileged_signals() -> None:
    """Workers leave SIGINT/SIGTERM to the runner, which stops them over the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def worker_main(
    sockets: list[ServerSocket],
    policy: ServerPolicy,
    state: SystemState,
    control: Connection,
    store_path: Path | None,
    flush_interval_s: float,
) -> None:
    """Entry point of a worker process."""
    drop_privileged_signals()
    random.seed()  # a forked child must not share the parent's random sequence
    Worker(sockets, policy, state, control, store_path, flush_interval_s).run()
