"""Benchmark: NTS (RFC 8915) requests per second beside plain NTP, ours and chronyd's.

    python benchmarks/nts_bench.py [--step-s 1.0] [--max-rate 100000] [--workers 0]

Starts, on loopback,
  * ours:    `orch server run --reference local --stratum 8 --no-ratelimit --nts-cert ...`
  * chronyd: `chronyd -x` with `local stratum 8`, `ntsservercert`/`ntsserverkey` (needs
             root and the Debian package chrony; skipped without them)
both with a self-signed certificate from `orch server nts-cert`. Each does one NTS-KE
session with our pyOpenSSL client (orchestrator.serve.ntske.ke_client); the NTS load is a
pool of requests sealed with that session's C2S key (unique identifier, cookie, one
placeholder: what chronyd sends), replayed with distinct transmit timestamps. For every
server and mode it finds the highest rate answered with < 1 % loss (server_bench.Ramp:
double, then bisect) and the server CPU µs per response, and prints the NTS/plain ratio of
each server and ours/chronyd's per mode. Bounded: loopback only, --max-rate, fixed steps.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import server_bench as sb  # noqa: E402

from orchestrator.ntp import nts  # noqa: E402
from orchestrator.ntp import packet as P  # noqa: E402
from orchestrator.serve.ntscert import write_self_signed  # noqa: E402
from orchestrator.serve.ntske import ke_client  # noqa: E402

HOST = "127.0.0.1"
POOL = 32768  # distinct requests per NTS load (the origin of each reply names its request)


@dataclass
class Target:
    server: sb.Server
    ke_port: int
    mode: str  # "plain" or "nts"
    pool: list[bytes]

    @property
    def name(self) -> str:
        return f"{self.server.name}/{self.mode}"


def start_ours(work: Path, workers: int, cert: Path, key: Path) -> tuple[sb.Server, int]:
    cmd = [
        sys.executable, "-m", "orchestrator", "server", "run", "--listen", HOST, "--port", "0",
        "--reference", "local", "--stratum", "8", "--no-ratelimit",
        "--client-log", str(work / "clients.sqlite"),
        "--nts-cert", str(cert), "--nts-key", str(key), "--nts-port", "0",
    ]  # fmt: skip
    if workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "ORCH_DATA_DIR": str(work / "data")}
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    first, second = proc.stderr.readline(), proc.stderr.readline()
    ntp = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
    ke = re.search(r"NTS-KE .* on TCP 127\.0\.0\.1:(\d+)", second)
    if not ntp or not ke:
        proc.kill()
        raise SystemExit(f"our server did not start: {first}{second}")
    return sb.Server("ours", proc, int(ntp.group(1))), int(ke.group(1))


def start_chronyd(work: Path, cert: Path, key: Path) -> tuple[sb.Server, int] | None:
    chronyd = shutil.which("chronyd") or "/usr/sbin/chronyd"
    if not Path(chronyd).exists() or os.geteuid() != 0:
        print("chronyd (Debian package chrony) and root are needed for the comparison")
        return None
    d = work / "chronyd"
    d.mkdir(mode=0o700)
    port, ke_port = sb._free_port(), _free_tcp_port()
    (d / "chrony.conf").write_text(
        f"local stratum 8\nallow {HOST}\nbindaddress {HOST}\nport {port}\ncmdport 0\n"
        f"ntsservercert {cert}\nntsserverkey {key}\nntsport {ke_port}\n"
        f"pidfile {d}/chronyd.pid\nbindcmdaddress {d}/chronyd.sock\n"
    )
    proc = subprocess.Popen(
        [chronyd, "-x", "-d", "-u", "root", "-f", str(d / "chrony.conf"), "-L", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    server = sb.Server("chronyd", proc, port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sb._sample_once(port) is not None:
            return server, ke_port
        time.sleep(0.2)
    server.stop()
    raise SystemExit("chronyd did not answer")


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def nts_pool(server: sb.Server, ke_port: int, cert: Path) -> list[bytes]:
    """NTS requests of one NTS-KE session, each with its own transmit timestamp; the first
    is checked against the server (its reply must verify)."""
    ke = ke_client(HOST, ke_port, cert)
    cookie = ke.cookies[0]
    pool = []
    for i in range(POOL):
        header = P.client_request((i + 1) << 8).encode()
        pool.append(nts.client_request(header, os.urandom(32), cookie, ke.c2s, os.urandom(16), 1))
    uid = pool[0][52:84]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(pool[0], (HOST, ke.ntp_port))
        reply = s.recv(2048)
    if nts.client_open_reply(reply, uid, ke.s2c) is None:
        raise SystemExit(f"{server.name}: the NTS reply does not verify")
    return pool


def _generator(
    port: int, pool: list[bytes], rate: float, duration_s: float, nsockets: int, conn: Connection
) -> None:
    """server_bench._generator with a pool of prepared requests instead of one template."""
    socks = []
    for _ in range(nsockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((HOST, 0))
        s.connect((HOST, port))
        s.setblocking(False)
        socks.append(s)
    outstanding: set[bytes] = set()
    sent = answered = seq = 0
    start = time.monotonic()

    def drain() -> int:
        got = 0
        for s in socks:
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                if data[24:32] in outstanding:
                    outstanding.discard(data[24:32])
                    got += 1
        return got

    while (elapsed := time.monotonic() - start) < duration_s:
        for _ in range(int(elapsed * rate) - sent):
            request = pool[seq % len(pool)]
            seq += 1
            try:
                socks[seq % nsockets].send(request)
            except OSError:
                continue
            outstanding.add(request[40:48])
            sent += 1
        answered += drain()
        spare = start + (int(elapsed / 0.001) + 1) * 0.001 - time.monotonic()
        if spare > 0:
            time.sleep(spare)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        answered += drain()
        time.sleep(0.005)
    for s in socks:
        s.close()
    conn.send((sent, answered))


def measure(
    target: Target, rate: float, args: argparse.Namespace
) -> tuple[bool, bool, float, float]:
    ctx = multiprocessing.get_context("fork")
    r, w = ctx.Pipe(duplex=False)
    cpu0 = target.server.cpu_s()
    p = ctx.Process(
        target=_generator,
        args=(target.server.port, target.pool, rate, args.step_s, args.sockets, w),
    )
    p.start()
    sent, answered = r.recv()
    p.join(10)
    cpu = target.server.cpu_s() - cpu0
    loss = 1 - answered / sent if sent else 1.0
    short = sent < 0.95 * rate * args.step_s
    print(
        f"  {target.name:14s} offered {rate:8.0f}/s sent {sent:7d} answered {answered:7d} "
        f"loss {100 * loss:6.2f} %" + ("  (generator could not keep up)" if short else ""),
        flush=True,
    )
    cpu_us = 1e6 * cpu / answered if answered else float("nan")
    return loss < sb.LOSS_LIMIT, short, cpu_us, sent / args.step_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--step-s", type=float, default=1.0)
    ap.add_argument("--start-rate", type=float, default=2000)
    ap.add_argument("--max-rate", type=float, default=100_000)
    ap.add_argument("--bisect", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="our worker processes (0: per core)")
    ap.add_argument("--sockets", type=int, default=8, help="client sockets of the generator")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-nts-bench-") as tmp:
        work = Path(tmp)
        cert, key = work / "nts.crt", work / "nts.key"
        write_self_signed(cert, key, ["localhost", HOST])
        servers: list[tuple[sb.Server, int]] = []
        try:
            servers.append(start_ours(work, args.workers, cert, key))
            chrony = start_chronyd(work, cert, key)
            if chrony is not None:
                servers.append(chrony)
            plain = [P.client_request(i << 8).encode() for i in range(1, POOL + 1)]
            targets = [
                Target(server, ke_port, mode, plain if mode == "plain" else pool)
                for server, ke_port in servers
                for mode, pool in (("plain", plain), ("nts", nts_pool(server, ke_port, cert)))
            ]
            ramps = {t.name: sb.Ramp(args.start_rate, args.max_rate, args.bisect) for t in targets}
            print("== capacity (interleaved steps)", flush=True)
            while any(r.rate is not None for r in ramps.values()):
                for t in targets:
                    ramp = ramps[t.name]
                    if ramp.rate is not None:
                        rate = ramp.rate
                        ramp.record(rate, *measure(t, rate, args))
        finally:
            for server, _ in servers:
                server.stop()
    results = {name: ramp.result() for name, ramp in ramps.items()}
    print()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'server/mode':14s} {'max rate <1% loss':>20s} {'CPU µs/resp':>12s}")
    for name, c in results.items():
        rate = f"{c.rate:,.0f}/s" + (" (gen)" if c.generator_bound else "")
        print(f"{name:14s} {rate:>20s} {c.cpu_us_per_response:12.1f}")
    print()
    for server, _ in servers:
        p, n = results[f"{server.name}/plain"], results[f"{server.name}/nts"]
        print(
            f"{server.name}: NTS requests/s = {n.rate / p.rate:.2f} x plain NTP "
            f"({n.rate:,.0f} vs {p.rate:,.0f}); CPU per response x "
            f"{n.cpu_us_per_response / p.cpu_us_per_response:.2f}"
        )
    if len(servers) == 2:
        for mode in ("plain", "nts"):
            o, c = results[f"ours/{mode}"], results[f"chronyd/{mode}"]
            print(f"ratio ours/chronyd, {mode}: max rate {o.rate / c.rate:.2f}")


if __name__ == "__main__":
    main()
