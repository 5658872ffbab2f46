"""Lab scale: `orch lab up --devices N` memory, and concurrent SSH logins against it.

    /work/venv/bin/python benchmarks/lab_scale.py [DEVICES] [CONCURRENT]   (default 500 100)

Starts the real lab daemon (the process `orch lab up` starts) with N generated devices on
a free SSH port, reads its resident memory from /proc, then opens CONCURRENT SSH sessions
at once (asyncssh clients, one per device), logs in with the password and runs
`show clock` over an exec channel on each. Prints start time, RSS (target < 1 GB for 500
devices), login throughput, and the RSS per device. Everything stays on loopback and the
lab is stopped by PID at the end.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from orchestrator.lab.daemon import LabOptions, start_background, stop_background

RSS_BUDGET_MB = 1024.0


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


# One harmless command per platform, and a word its answer must contain.
PROBE = {
    "cisco_ios": ("show clock", "UTC"),
    "cisco_catos": ("show time", ":"),
    "windows": ("hostname", "lab-win"),
}


async def one_login(address: str, port: int, platform: str, password: str) -> float:
    command, expect = PROBE[platform]
    started = time.perf_counter()
    async with asyncssh.connect(
        address,
        port,
        username="admin",
        password=password,
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        connect_timeout=60,
    ) as conn:
        result = await conn.run(command, check=False, timeout=60)
        if result.exit_status != 0 or expect not in str(result.stdout):
            raise RuntimeError(f"{address}: unexpected answer {result.stdout!r}")
    return time.perf_counter() - started


async def logins(
    endpoints: list[tuple[str, int, str]], password: str
) -> list[float | BaseException]:
    return await asyncio.gather(
        *(one_login(a, p, kind, password) for a, p, kind in endpoints), return_exceptions=True
    )


def main() -> int:
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    concurrent = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    password = os.environ.get("ORCH_LAB_PASSWORD", "orch-lab")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "lab"
        port = free_port("127.0.1.1")
        started = time.perf_counter()
        status = start_background(
            LabOptions(devices=devices, ssh_port=port, ntp_port=9, poll_interval_s=2.0),
            state,
            timeout_s=300,
        )
        start_s = time.perf_counter() - started
        pid = int(status["pid"])
        try:
            idle_rss = rss_mb(pid)
            eps = [(e["address"], int(e["port"]), e["platform"]) for e in status["endpoints"]]
            chosen = [eps[i * len(eps) // concurrent] for i in range(min(concurrent, len(eps)))]
            t0 = time.perf_counter()
            results = asyncio.run(logins(chosen, password))
            wall = time.perf_counter() - t0
            ok = [r for r in results if isinstance(r, float)]
            failed = [r for r in results if not isinstance(r, float)]
            busy_rss = rss_mb(pid)
        finally:
            stop_background(state)
    print(f"devices: {devices}, lab start: {start_s:.1f} s")
    print(
        f"RSS idle: {idle_rss:.0f} MB ({idle_rss * 1024 / devices:.0f} KB/device), "
        f"after logins: {busy_rss:.0f} MB; budget {RSS_BUDGET_MB:.0f} MB "
        f"(ratio {busy_rss / RSS_BUDGET_MB:.2f})"
    )
    print(
        f"concurrent logins: {len(ok)}/{len(chosen)} ok in {wall:.1f} s "
        f"({len(ok) / wall:.1f} logins/s; slowest {max(ok, default=0):.1f} s)"
    )
    for err in failed[:5]:
        print(f"  failed: {type(err).__name__}: {err}")
    return 0 if not failed and busy_rss < RSS_BUDGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
