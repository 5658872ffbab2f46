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

Two packet loops (see fastpath.py): the C one (`_fastpath.FastPath`) when it was
built, which answers plain mode-3 requests itself and returns every other datagram
to `_answer` here, where `NtpServerCore.handle` decides; or the pure-Python one
(`_drain`), where every datagram goes through `_answer`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import selectors
import signal
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

from orchestrator.models import ClientLogEntry
from orchestrator.ntp.access import AccessList
from orchestrator.ntp.nts_cookie import KeyRing
from orchestrator.ntp.server import NtpServerCore, Respond, ServerPolicy, SystemState
from orchestrator.serve import fastpath
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


class _CTxDelay:
    """TxDelay's reading side over the C loop's own estimate."""

    def __init__(self, fast: Any) -> None:
        self._fast = fast

    @property
    def estimate_ns(self) -> int:
        return int(self._fast.tx_delay_ns)


_Rule = tuple[bytes, int, bool]


def _rules(access: AccessList) -> tuple[list[_Rule], list[_Rule]]:
    """The access list as the C loop takes it: (network octets, prefix length, is IPv4)."""

    def conv(nets: tuple[Any, ...]) -> list[_Rule]:
        return [(n.network_address.packed, n.prefixlen, n.version == 4) for n in nets]

    return conv(access.allow), conv(access.deny)


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
        self.control = control
        self.fast: Any = None  # the C packet loop, if built and not switched off
        mod = fastpath.module()
        if mod is None:
            self.core = NtpServerCore(policy, state, os.urandom)
        else:
            client_log, limiter = fastpath.tables(mod, policy.max_clients, policy.ratelimit)
            self.core = NtpServerCore(
                policy, state, os.urandom, limiter=limiter, client_log=client_log
            )
            # require_auth: no request is answerable without a MAC, so C answers none
            allow, deny = ([], []) if policy.require_auth else _rules(policy.access)
            self.fast = mod.FastPath(
                [(s.sock.fileno(), s.family, s.wildcard, s.tx_timestamps) for s in sockets],
                control.fileno(),
                client_log.table,
                limiter.table if limiter is not None else None,
                allow,
                deny,
                # The C loop reads T3 right before sendmmsg and does not compensate:
                # on loopback, adding the kernel-measured read-to-wire delay put T3 after
                # the client's receive time and the offset median 3-4 us from chronyd's
                # (docs/performance.md). ORCH_C_TX_COMPENSATION=1 turns it on to measure.
                tx_compensation and os.environ.get("ORCH_C_TX_COMPENSATION") == "1",
                policy.ratelimit.interval if policy.ratelimit else 0,
            )
            self.fast.set_state(*self.core.wire_state())
        self.store_path = store_path
        self.flush_interval_s = flush_interval_s
        self._flushed: dict[str, int] = {}
        self._unwritten: list[ClientLogEntry] = []
        self.tx_delay: TxDelay | _CTxDelay = (
            TxDelay() if self.fast is None else _CTxDelay(self.fast)
        )
        self.tx_compensation = tx_compensation
        self._py_comp_ns = 0
        self._t3 = 0  # raw clock read of the reply being built (0: none, e.g. a KoD)
        self._since_sample = TX_SAMPLE_EVERY
        self.send_errors = 0
        self.internal_errors = 0

    @property
    def _comp_ns(self) -> int:
        """What is added to transmit timestamps (the measured read-to-wire delay)."""
        return int(self.fast.comp_ns) if self.fast is not None else self._py_comp_ns

    def counters(self) -> dict[str, int]:
        """The core's counters plus the C loop's (the packets it decided itself)."""
        counters = dict(self.core.counters)
        if self.fast is not None:
            for name, value in self.fast.counters().items():
                counters[name] = counters.get(name, 0) + value
        counters["send-errors"] = counters.get("send-errors", 0) + self.send_errors
        counters["internal-errors"] = self.internal_errors
        counters["client-log-evicted"] = self.core.client_log.evicted
        return counters

    def run(self) -> None:
        store = ClientLogStore(self.store_path) if self.store_path is not None else None
        try:
            if self.fast is not None:
                self._run_fast(store)
            else:
                self._run_python(store)
        finally:
            if store is not None:
                self._flush(store)
                store.close()

    def _run_fast(self, store: ClientLogStore | None) -> None:
        run, poll, sockets = self.fast.run, self.control.poll, self.sockets
        next_flush = time.monotonic() + self.flush_interval_s
        running = True
        while running:
            wait_ms = int(max(0.0, next_flush - time.monotonic()) * 1000) + 1
            for index, data, addr, rx_ns, reply_cmsg in run(wait_ms):
                self._answer(sockets[index], data, addr, rx_ns, reply_cmsg)
            if poll():
                running = self._control()
            if time.monotonic() >= next_flush:
                if store is not None:
                    self._flush(store)
                next_flush = time.monotonic() + self.flush_interval_s

    def _run_python(self, store: ClientLogStore | None) -> None:
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

    def _control(self) -> bool:
        try:
            msg = self.control.recv()
        except (EOFError, OSError):
            return False  # the runner is gone
        if msg is None:
            return False
        if isinstance(msg, SystemState):
            self.core.set_state(msg)
            if self.fast is not None:
                self.fast.set_state(*self.core.wire_state())
        elif isinstance(msg, KeyRing):  # NTS master keys rotated by the NTS-KE server
            self.core.set_nts_keys(msg)
        return True

    def _read_clock(self) -> int:
        """The transmit timestamp clock: remembers the raw read, adds the TX delay."""
        t = time.time_ns()
        self._t3 = t
        return t + self._comp_ns

    def _drain(self, ss: ServerSocket) -> None:
        """The pure-Python loop: read up to BATCH datagrams, answer each."""
        recvmsg = ss.sock.recvmsg
        wildcard = ss.wildcard
        unpack_ts = TIMESPEC.unpack_from
        answer = self._answer
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
            answer(ss, data, addr, rx_ns, reply_cmsg)

    def _answer(
        self,
        ss: ServerSocket,
        data: bytes,
        addr: Any,
        rx_ns: int | None,
        reply_cmsg: list[tuple[int, int, bytes]] | None,
    ) -> None:
        """Let the core decide on one datagram and send its reply (both loops end here)."""
        host = addr[0]
        if host.startswith("::ffff:"):
            host = host[7:]
        self._t3 = 0
        try:
            out = self.core.handle(
                host, rx_ns or time.time_ns(), data, self._read_clock, random.getrandbits(96)
            )
        except Exception:  # a bug must cost one packet, never the server
            self.internal_errors += 1
            log.exception("packet from %s not handled", host)
            return
        if type(out) is not Respond:
            return
        # Sampled or not, a reply takes the same path to the kernel (one sendmsg) so that
        # the sampled delays stand for all replies. The C loop keeps its own estimate.
        self._since_sample += 1
        sample = (
            self.fast is None
            and ss.tx_timestamps
            and self._t3
            and self._since_sample >= TX_SAMPLE_EVERY
        )
        cmsgs = [TX_TIMESTAMP_CMSG] if sample else []
        if reply_cmsg is not None:
            cmsgs += reply_cmsg
        try:
            ss.sock.sendmsg([out[0]], cmsgs, 0, addr)
        except OSError:
            self.send_errors += 1
            return
        if sample:
            self._since_sample = 0
            tx = read_tx_timestamp(ss.sock)
            if tx is not None and isinstance(self.tx_delay, TxDelay):
                self.tx_delay.add(tx - self._t3)
                if self.tx_compensation:
                    self._py_comp_ns = self.tx_delay.estimate_ns

    def _flush(self, store: ClientLogStore) -> None:
        counters = self.counters()
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Workers end when the runner ends, however it ends (SIGKILL, OOM killer): the
    kernel sends SIGTERM on the parent's death (PR_SET_PDEATHSIG), and a parent that
    died before that was set is caught by comparing getppid() (the liveness check).
    SIGTERM stops the worker (its client log is flushed on the way out); SIGINT stays
    with the runner, which stops its workers over their pipes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe EOF still ends the worker
        log.debug("PR_SET_PDEATHSIG not available")
    if os.getppid() != parent_pid:
        raise WorkerStopped


class WorkerStopped(BaseException):
    """Ends a worker process from a signal handler (a BaseException, so that no
    `except Exception` in the packet loop swallows it; `finally` blocks still flush)."""


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise WorkerStopped


def worker_main(
    sockets: list[ServerSocket],
    policy: ServerPolicy,
    state: SystemState,
    control: Connection,
    store_path: Path | None,
    flush_interval_s: float,
    tx_compensation: bool = True,
    parent_pid: int | None = None,
    inherited: tuple[Connection, ...] = (),
) -> None:
    """Entry point of a worker process. `inherited`: the runner's ends of the other
    workers' pipes, copied by fork; closed here so that each pipe ends with the runner."""
    for conn in inherited:
        conn.close()
    try:
        die_with_parent(os.getppid() if parent_pid is None else parent_pid)
        random.seed()  # a forked child must not share the parent's random sequence
        mod = fastpath.module()
        if mod is not None:
            mod.reseed()
        worker = Worker(
            sockets, policy, state, control, store_path, flush_interval_s, tx_compensation
        )
        worker.run()
    except WorkerStopped:
        return  # the process ends normally (exit status 0)
