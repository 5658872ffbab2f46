"""One server worker: read datagrams, let the core decide, send replies, persist the log.

A worker owns one socket per listen address (all in the same SO_REUSEPORT groups
as the other workers' sockets) and one `NtpServerCore`. It runs in a thread
(in-process runner) or in its own process (one per core). The runner talks to it
over a pipe: a `SystemState` installs a new reference state, a `KeyRing` new NTS
master keys, `None` stops it. NTS requests (packets with RFC 8915 extension fields)
are handled by the same `NtpServerCore.handle` (its `_nts_reply` path): a faster path
for plain requests must leave every datagram longer than 48 + 24 octets (extension
fields, NTS) to `handle`.
Every `flush_interval_s` it adds its client-log and counter deltas to the SQLite
store, so the store is right whichever worker a client's packets hash to.
"""

from __future__ import annotations

import logging
import os
import random
import selectors
import signal
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path

from orchestrator.models import ClientLogEntry
from orchestrator.ntp.nts_cookie import KeyRing
from orchestrator.ntp.server import NtpServerCore, Respond, ServerPolicy, SystemState
from orchestrator.serve.clientlog_store import ClientLogStore
from orchestrator.serve.udp import (
    ANC_BUFSIZE,
    RECV_BUFSIZE,
    TIMESPEC,
    TX_TIMESTAMP_CMSG,
    ServerSocket,
    parse_ancillary,
    read_tx_timestamp,
)

log = logging.getLogger(__name__)

BATCH = 256  # datagrams drained per readiness event before looking at the pipe again
TX_SAMPLE_EVERY = 8  # one reply in this many asks the kernel for its TX timestamp


class TxDelay:
    """How long a reply takes from the transmit-timestamp read to the wire (median, ns).

    The transmit timestamp is read last, but packing, returning to the loop and the
    sendmsg call still come after it: in Python ~10 µs, more when the worker wakes
    cold. Left alone that makes T3 early, so clients see a smaller offset and a
    larger delay than the truth. Like chrony's pre-compensation of MAC time, the
    worker adds the median of recent measured delays (kernel software TX timestamp
    minus the raw read) to T3.
    """

    def __init__(self, window: int = 31, max_ns: int = 1_000_000) -> None:
        self._samples: deque[int] = deque(maxlen=window)
        self._max_ns = max_ns
        self.estimate_ns = 0

    def add(self, delay_ns: int) -> None:
        if 0 <= delay_ns <= self._max_ns:  # a negative or huge value is a clock step
            self._samples.append(delay_ns)
            ordered = sorted(self._samples)
            self.estimate_ns = ordered[len(ordered) // 2]


class Worker:
    """The packet loop of one worker (see the module docstring); `run()` until stopped."""

    def __init__(
        self,
        sockets: list[ServerSocket],
        policy: ServerPolicy,
        state: SystemState,
        control: Connection,
        store_path: Path | None,
        flush_interval_s: float = 2.0,
        tx_compensation: bool = True,
    ) -> None:
        self.sockets = sockets
        self.core = NtpServerCore(policy, state, os.urandom)
        self.control = control
        self.store_path = store_path
        self.flush_interval_s = flush_interval_s
        self._flushed: dict[str, int] = {}
        self._unwritten: list[ClientLogEntry] = []
        self.tx_delay = TxDelay()
        self.tx_compensation = tx_compensation
        self._comp_ns = 0
        self._t3 = 0  # raw clock read of the reply being built (0: none, e.g. a KoD)
        self._since_sample = TX_SAMPLE_EVERY
        self.send_errors = 0
        self.internal_errors = 0

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
        elif isinstance(msg, KeyRing):  # NTS master keys rotated by the NTS-KE server
            self.core.set_nts_keys(msg)
        return True

    def _read_clock(self) -> int:
        """The transmit timestamp clock: remembers the raw read, adds the TX delay."""
        t = time.time_ns()
        self._t3 = t
        return t + self._comp_ns

    def _drain(self, ss: ServerSocket) -> None:
        # Locals and an inlined timestamp cmsg: this is the hot loop.
        sock = ss.sock
        recvmsg = sock.recvmsg
        sendmsg = sock.sendmsg
        tx_cmsgs = [TX_TIMESTAMP_CMSG]
        plain_cmsgs: list[tuple[int, int, bytes]] = []
        wildcard = ss.wildcard
        tx_timestamps = ss.tx_timestamps
        handle = self.core.handle
        read_clock = self._read_clock
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
            elif anc:  # bound to one address: the only cmsg is the RX timestamp
                sec, nsec = unpack_ts(anc[0][2])
                rx_ns = sec * 1_000_000_000 + nsec
            else:
                rx_ns = None
            host = addr[0]
            if host.startswith("::ffff:"):
                host = host[7:]
            self._t3 = 0
            try:
                out = handle(host, rx_ns or time_ns(), data, read_clock, getrandbits(96))
            except Exception:  # a bug must cost one packet, never the server
                self.internal_errors += 1
                log.exception("packet from %s not handled", host)
                continue
            if type(out) is not Respond:
                continue
            # Sampled or not, a reply takes the same path to the kernel (one sendmsg,
            # prebuilt cmsg lists) so that the sampled delays stand for all replies.
            self._since_sample += 1
            sample = tx_timestamps and self._t3 and self._since_sample >= TX_SAMPLE_EVERY
            cmsgs = (
                (tx_cmsgs if sample else plain_cmsgs)
                if reply_cmsg is None
                else ([TX_TIMESTAMP_CMSG, *reply_cmsg] if sample else reply_cmsg)
            )
            try:
                sendmsg([out[0]], cmsgs, 0, addr)
            except OSError:
                self.send_errors += 1
                continue
            if sample:
                self._since_sample = 0
                tx = read_tx_timestamp(sock)
                if tx is not None:
                    self.tx_delay.add(tx - self._t3)
                    if self.tx_compensation:
                        self._comp_ns = self.tx_delay.estimate_ns

    def _flush(self, store: ClientLogStore) -> None:
        counters = dict(self.core.counters)
        counters["send-errors"] = self.send_errors
        counters["internal-errors"] = self.internal_errors
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


def leave_signals_to_runner() -> None:
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
    tx_compensation: bool = True,
) -> None:
    """Entry point of a worker process."""
    leave_signals_to_runner()
    random.seed()  # a forked child must not share the parent's random sequence
    Worker(sockets, policy, state, control, store_path, flush_interval_s, tx_compensation).run()
