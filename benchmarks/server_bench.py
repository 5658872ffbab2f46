"""Benchmark: our NTP server against chronyd, on loopback, with the same load generator.

    python benchmarks/server_bench.py [--step-s 1.0] [--max-rate 400000] [--workers 0]

Runs, in turn,
  * ours:    `orch server run --reference local --stratum 8 --no-ratelimit` (one
             SO_REUSEPORT worker process per core unless --workers says otherwise)
  * chronyd: `chronyd -x` with `local stratum 8`, `allow 127.0.0.1`, no ratelimit, its
             own port, pidfile and command socket in a private directory
and for each prints (the servers run side by side, idle unless loaded; the load goes
to one at a time, their steps interleaved so that noise from elsewhere hits all alike)
  * the highest request rate answered with < 1 % loss (rates doubled until loss, then
    bisected; each step lasts --step-s seconds);
  * server CPU µs per response at that rate (utime+stime of the server processes);
  * client-seen offset and delay p50/p99 from a separate low-rate run (T4 is the
    kernel's receive timestamp on the client socket);
and the ratios ours/chronyd's. Everything is bounded: loopback only, at most
--max-rate requests per second, a fixed number of steps.

The load generator is Python too (non-blocking sockets, paced every millisecond, replies
matched by origin timestamp). It runs in --generators processes; when it cannot send
the offered rate the result is marked "generator-bound": the server was not the limit.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.ntp import packet as P  # noqa: E402
from orchestrator.ntp import timestamps as T  # noqa: E402
from orchestrator.ntp.onwire import measure  # noqa: E402
from orchestrator.serve.udp import SO_TIMESTAMPNS, parse_ancillary  # noqa: E402

HOST = "127.0.0.1"
LOSS_LIMIT = 0.01
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- servers


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out += [int(c) for c in text]
    except OSError:
        pass
    return out


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[str]
    port: int

    def cpu_s(self) -> float:
        pids = [self.proc.pid, *_children(self.proc.pid)]
        return sum(_cpu_s(p) for p in pids)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # our own child, by PID
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_ours(workdir: Path, workers: int, config: str = "", name: str = "ours") -> Server:
    cmd = [
        sys.executable, "-m", "orchestrator", "server", "run",
        "--listen", HOST, "--port", "0", "--reference", "local", "--stratum", "8",
        "--no-ratelimit", "--client-log", str(workdir / "clients.sqlite"),
    ]  # fmt: skip
    if workers:
        cmd += ["--workers", str(workers)]
    if config:
        conf = workdir / f"{name}.toml"
        conf.write_text(config)
        cmd += ["--config", str(conf)]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"our server did not start: {line}{proc.stderr.read()}")
    return Server(name, proc, int(m.group(1)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_chronyd(workdir: Path) -> Server:
    chronyd = shutil.which("chronyd") or "/usr/sbin/chronyd"
    if not Path(chronyd).exists() or os.geteuid() != 0:
        raise SystemExit("chronyd (Debian package chrony) and root are needed for the comparison")
    d = workdir / "chronyd"
    d.mkdir(mode=0o700)
    port = _free_port()
    conf = d / "chrony.conf"
    conf.write_text(
        f"local stratum 8\nallow {HOST}\nbindaddress {HOST}\nport {port}\ncmdport 0\n"
        f"pidfile {d}/chronyd.pid\nbindcmdaddress {d}/chronyd.sock\n"
    )
    proc = subprocess.Popen(
        [chronyd, "-x", "-d", "-u", "root", "-f", str(conf), "-L", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    server = Server("chronyd", proc, port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until it answers
        if _sample_once(port) is not None:
            return server
        time.sleep(0.2)
    server.stop()
    raise SystemExit("chronyd did not answer")


# ---------------------------------------------------------------------- load generator


def _request() -> tuple[bytes, int]:
    t1 = T.from_unix_ns(time.time_ns())
    return P.client_request(t1).encode(), t1


def _generator(port: int, rate: float, duration_s: float, nsockets: int, conn: Connection) -> None:
    """Send `rate` requests/s for `duration_s`, count replies; report (sent, answered)."""
    socks = []
    for _ in range(nsockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((HOST, 0))
        s.connect((HOST, port))
        s.setblocking(False)
        socks.append(s)
    template = bytearray(P.client_request(0).encode())
    outstanding: set[bytes] = set()
    sent = answered = 0
    start = time.monotonic()
    seq = 0

    def drain() -> int:
        got = 0
        for s in socks:
            while True:
                try:
                    data = s.recv(128)
                except BlockingIOError:
                    break
                key = data[24:32]
                if key in outstanding:
                    outstanding.discard(key)
                    got += 1
        return got

    tick = 0.001
    while True:
        now = time.monotonic()
        elapsed = now - start
        if elapsed >= duration_s:
            break
        due = int(elapsed * rate) - sent
        for _ in range(due):
            seq += 1
            stamp = seq.to_bytes(8, "big")  # unique origin to match replies
            template[40:48] = stamp
            try:
                socks[seq % nsockets].send(template)
            except BlockingIOError:
                continue
            except OSError:
                continue
            outstanding.add(stamp)
            sent += 1
        answered += drain()
        spare = start + (int(elapsed / tick) + 1) * tick - time.monotonic()
        if spare > 0:
            time.sleep(spare)
    end = time.monotonic() + 0.5  # stragglers
    while time.monotonic() < end:
        answered += drain()
        time.sleep(0.005)
    for s in socks:
        s.close()
    conn.send((sent, answered))


def run_step(
    port: int, rate: float, duration_s: float, generators: int, nsockets: int
) -> tuple[int, int]:
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for _ in range(generators):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_generator, args=(port, rate / generators, duration_s, nsockets, w))
        p.start()
        pipes.append(r)
        procs.append(p)
    sent = answered = 0
    for r, p in zip(pipes, procs, strict=True):
        s, a = r.recv()
        sent += s
        answered += a
        p.join(10)
    return sent, answered


@dataclass
class Capacity:
    rate: float  # highest offered rate with < 1 % loss
    generator_bound: bool
    cpu_us_per_response: float


class Ramp:
    """Search of one server's loss-free rate: double until loss, then bisect."""

    def __init__(self, start: float, max_rate: float, bisect: int) -> None:
        self.rate: float | None = start
        self.max_rate = max_rate
        self.bisect_left = bisect
        self.good = 0.0
        self.good_cpu = float("nan")
        self.bad: float | None = None
        self.generator_bound = False

    def record(self, rate: float, ok: bool, short: bool, cpu_us: float, achieved: float) -> None:
        # a short generator did not offer `rate`: credit the server with what it got
        credited = min(rate, achieved)
        if ok and credited > self.good:
            self.good, self.good_cpu, self.generator_bound = credited, cpu_us, short
        if not ok:
            self.bad = rate if self.bad is None else min(self.bad, rate)
        if ok and short:
            self.rate = None  # the generator is the limit: going higher measures nothing
        elif self.bad is None:
            self.rate = rate * 2 if rate * 2 <= self.max_rate else None
        elif self.bisect_left > 0 and self.bad > self.good:
            self.bisect_left -= 1
            self.rate = (self.good + self.bad) / 2
        else:
            self.rate = None

    def result(self) -> Capacity:
        return Capacity(self.good, self.generator_bound, self.good_cpu)


def measure_step(
    server: Server, rate: float, args: argparse.Namespace
) -> tuple[bool, bool, float, float]:
    """Offer `rate` for --step-s (best of --trials).

    Returns (loss < 1 %, generator short, CPU µs per response, rate actually sent).
    """
    ok = short = False
    cpu_us = float("nan")
    achieved = 0.0
    for _ in range(args.trials):
        cpu0 = server.cpu_s()
        sent, answered = run_step(server.port, rate, args.step_s, args.generators, args.sockets)
        cpu = server.cpu_s() - cpu0
        loss = 1 - answered / sent if sent else 1.0
        short = sent < 0.95 * rate * args.step_s
        print(
            f"  {server.name:9s} offered {rate:9.0f}/s sent {sent:8d} answered {answered:8d} "
            f"loss {100 * loss:6.2f} %" + ("  (generator could not keep up)" if short else ""),
            flush=True,
        )
        achieved = sent / args.step_s
        if loss < LOSS_LIMIT:
            ok, cpu_us = True, 1e6 * cpu / answered if answered else float("nan")
            break
    return ok, short, cpu_us, achieved


def find_capacities(servers: list[Server], args: argparse.Namespace) -> dict[str, Capacity]:
    """Ramp all servers, interleaving their steps so that load from elsewhere on the
    machine hits them alike."""
    ramps = {s.name: Ramp(args.start_rate, args.max_rate, args.bisect) for s in servers}
    while any(r.rate is not None for r in ramps.values()):
        for server in servers:
            ramp = ramps[server.name]
            if ramp.rate is None:
                continue
            rate = ramp.rate
            ok, short, cpu_us, achieved = measure_step(server, rate, args)
            ramp.record(rate, ok, short, cpu_us, achieved)
    return {name: r.result() for name, r in ramps.items()}


# ---------------------------------------------------------------------- offset / delay


def _sample_once(port: int, sock: socket.socket | None = None) -> tuple[float, float] | None:
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if own:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.settimeout(0.5)
        req, t1 = _request()
        s.sendto(req, (HOST, port))
        try:
            data, anc, _, _ = s.recvmsg(256, 256)
        except (TimeoutError, BlockingIOError):
            return None
        rx_ns, _ = parse_ancillary(anc)
        t4 = T.from_unix_ns(rx_ns if rx_ns is not None else time.time_ns())
        reply = P.decode(data)
        if reply.origin_ts != t1 or reply.is_kod:
            return None
        sample = measure(t1, reply.receive_ts, reply.transmit_ts, t4)
        return sample.offset_s, sample.delay_s
    finally:
        if own:
            s.close()


def offset_delay(port: int, count: int, rate: float) -> tuple[list[float], list[float]]:
    offsets, delays = [], []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.settimeout(0.5)
        for _ in range(count):
            got = _sample_once(port, s)
            if got is not None:
                offsets.append(got[0])
                delays.append(got[1])
            time.sleep(1.0 / rate)
    return offsets, delays


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Result:
    name: str
    capacity: Capacity
    offset_p50_us: float
    offset_p99_us: float
    delay_p50_us: float
    delay_p99_us: float


def sample_all(
    servers: list[Server], args: argparse.Namespace
) -> dict[str, tuple[list[float], list[float]]]:
    """Offset/delay samples, in rounds alternating between the servers."""
    out: dict[str, tuple[list[float], list[float]]] = {s.name: ([], []) for s in servers}
    rounds = 5
    for _ in range(rounds):
        for server in servers:
            offsets, delays = offset_delay(server.port, args.samples // rounds, args.sample_rate)
            out[server.name][0].extend(offsets)
            out[server.name][1].extend(delays)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--step-s", type=float, default=1.0)
    ap.add_argument("--start-rate", type=float, default=5000)
    ap.add_argument("--max-rate", type=float, default=400_000)
    ap.add_argument("--bisect", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="our worker processes (0: per core)")
    ap.add_argument("--generators", type=int, default=1, help="load generator processes")
    ap.add_argument("--sockets", type=int, default=8, help="client sockets per generator")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--sample-rate", type=float, default=200)
    ap.add_argument("--trials", type=int, default=2, help="attempts per step (best counts)")
    ap.add_argument("--only", nargs="+", choices=["ours", "ours-kbuf", "ours-nocomp", "chronyd"])
    args = ap.parse_args()

    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        work = Path(tmp)
        contenders: list[tuple[str, Callable[[], Server]]] = [
            ("ours", lambda: start_ours(work, args.workers)),
            # the kernel's default receive queue, as chronyd has (it has no option for it)
            (
                "ours-kbuf",
                lambda: start_ours(work, args.workers, "rcvbuf_bytes = 0\n", "ours-kbuf"),
            ),
            # without the transmit-timestamp compensation (only with --only)
            (
                "ours-nocomp",
                lambda: start_ours(work, args.workers, "tx_compensation = false\n", "ours-nocomp"),
            ),
            ("chronyd", lambda: start_chronyd(work)),
        ]
        servers: list[Server] = []
        try:
            for name, start in contenders:
                if (not args.only and name != "ours-nocomp") or (args.only and name in args.only):
                    servers.append(start())
            print("== offset and delay, low rate", flush=True)
            samples = sample_all(servers, args)
            print("== capacity", flush=True)
            capacities = find_capacities(servers, args)
        finally:
            for server in servers:
                server.stop()
    for name, (offsets, delays) in samples.items():
        abs_off = [abs(o) for o in offsets]
        results[name] = Result(
            name,
            capacities[name],
            1e6 * pct(offsets, 50),
            1e6 * pct(abs_off, 99),
            1e6 * pct(delays, 50),
            1e6 * pct(delays, 99),
        )

    print()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{args.generators} generator process(es) x {args.sockets} sockets")  # fmt: skip
    header = (
        f"{'server':8s} {'max rate <1% loss':>20s} {'CPU µs/resp':>12s} "
        f"{'offset p50':>11s} {'|offset| p99':>13s} {'delay p50':>10s} {'delay p99':>10s}"
    )
    print(header)
    for r in results.values():
        rate = f"{r.capacity.rate:,.0f}/s" + (" (gen)" if r.capacity.generator_bound else "")
        print(
            f"{r.name:8s} {rate:>20s} {r.capacity.cpu_us_per_response:12.1f} "
            f"{r.offset_p50_us:9.1f}µs {r.offset_p99_us:11.1f}µs "
            f"{r.delay_p50_us:8.1f}µs {r.delay_p99_us:8.1f}µs"
        )
    c = results.get("chronyd")
    if c is not None:
        print()
    for name in ("ours", "ours-kbuf", "ours-nocomp"):
        o = results.get(name)
        if o is None or c is None:
            continue
        cpu_ratio = o.capacity.cpu_us_per_response / c.capacity.cpu_us_per_response
        print(
            f"ratio {name}/chronyd: max rate {o.capacity.rate / c.capacity.rate:.2f}, "
            f"CPU per response {cpu_ratio:.2f}, delay p50 {o.delay_p50_us / c.delay_p50_us:.2f}, "
            f"delay p99 {o.delay_p99_us / c.delay_p99_us:.2f}; offset p50 {name} - chronyd "
            f"{o.offset_p50_us - c.offset_p50_us:+.1f} µs"
        )


if __name__ == "__main__":
    main()
