"""Benchmark: `orch verify` over N simulated lab devices (target: 1000 in <= 20 s).

Everything real and on loopback: the lab's SSH devices (one asyncio process, here a
thread), our NTP server worker on an ephemeral port, orch's SSH sessions (netmiko for
IOS/CatOS, paramiko exec for Windows), TextFSM parsing and the evaluator. Prints the
wall time, devices per second, and the ratio against the 20 s target.

    python benchmarks/verify_bench.py [--devices 1000] [--workers 100]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from verify.test_verify_lab_e2e import InProcessServer

from orchestrator.drivers import get_driver
from orchestrator.engine.verify import verify_hosts
from orchestrator.errors import InputError
from orchestrator.lab import Lab, LabSpec, generated_devices
from orchestrator.models import DesiredNtp, Host, NtpServerSpec, Secret

TARGET_S = 20.0
BENCH_PORT = 2522  # apart from `orch lab up` (2222) and the tests' labs


def _supported(platform: str) -> bool:
    try:
        get_driver(platform)
    except InputError:
        return False
    return True


def _serve_lab(spec: LabSpec, ready: Event, stop: Event) -> None:
    """The lab in its own process, as `orch lab up` runs it: its SSH servers must not
    compete with the verifying side for one interpreter lock."""
    with Lab(spec):
        ready.set()
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=30)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="orch-verify-bench-"))
    server = InProcessServer(tmp / "server-clients.sqlite")
    specs = [d for d in generated_devices(args.devices, port=BENCH_PORT) if _supported(d.platform)]
    boot = {"cisco_ios": ("ntp server 127.0.0.1",)}
    specs = [type(d)(**{**d.__dict__, "startup_config": boot.get(d.platform, ())}) for d in specs]
    lab = LabSpec(devices=tuple(specs), poll_interval_s=2.0, ntp_port=server.port)
    desired = DesiredNtp(servers=(NtpServerSpec("127.0.0.1", port=server.port),))
    hosts = [
        Host(
            name=d.name,
            hostname=d.address,
            platform=d.platform,
            port=d.port,
            username=d.username,
            password=Secret(d.password),
            site="bench",
            groups=(),
            desired=desired,
            enable_secret=Secret(d.enable_secret),
        )
        for d in specs
    ]
    skipped = args.devices - len(hosts)
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    lab_proc = ctx.Process(target=_serve_lab, args=(lab, ready, stop), name="orch-bench-lab")
    lab_proc.start()
    try:
        if not ready.wait(120):
            raise SystemExit("the lab did not start within 120 s")
        if True:
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            run = verify_hosts(
                hosts,
                workers=args.workers,
                timeout_s=60.0,
                client_log_path=server.log_path,
                known_hosts=tmp / "known_hosts",
                accept_new_host_keys=True,
            )
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
    finally:
        stop.set()
        lab_proc.join(30)
        if lab_proc.is_alive():
            lab_proc.kill()
            lab_proc.join(5)
        server.stop()
    # The lab process has been waited for: its CPU (start-up included) is in os.times().
    children = os.times()
    lab_cpu = children.children_user + children.children_system
    verdicts = collections.Counter(v.verdict.value for v in run.verdicts)
    platforms = collections.Counter(h.platform for h in hosts)
    print(f"verify: {len(hosts)} lab devices ({dict(platforms)}), {args.workers} workers")
    if skipped:
        print(f"  ({skipped} devices of platforms without a driver in this build were left out)")
    print(f"  verdicts: {dict(verdicts)}")
    print(f"  wall time: {elapsed:.2f} s, {len(hosts) / elapsed:.1f} devices/s")
    print(
        f"  CPU: verifying process {cpu:.2f} s ({cpu / len(hosts) * 1000:.1f} ms/device), "
        f"lab process {lab_cpu:.2f} s incl. start-up ({lab_cpu / len(hosts) * 1000:.1f} ms/device)"
    )
    per_1000 = elapsed / max(1, len(hosts)) * 1000  # linear projection when N != 1000
    print(
        f"  1000 devices: {per_1000:.1f} s (target {TARGET_S:.0f} s), "
        f"ratio target/actual = {TARGET_S / per_1000:.2f} (>= 1.00 meets it)"
    )
    reasons = collections.Counter(v.reason for v in run.verdicts if not v.complies)
    for reason, count in reasons.most_common(3):
        print(f"  {count} x {reason[:150]}")


if __name__ == "__main__":
    main()
