"""Push benchmark: `orch push` to N simulated lab devices; optional Ansible comparison.

    python benchmarks/push_bench.py 100 500 1000 [--workers 50] [--ansible]

For each N: a fresh lab of N devices (mostly IOS, some CatOS and Windows, as
`orch lab up --devices N` builds it) runs in a child process, so the devices' CPU is not
in the pushing process's GIL. Prints, per N, the wall time of a first push (every device
changes) and a second push (every device unchanged), devices per second and the peak RSS
of the pushing process. Targets: 1000 devices in <= 40 s on 2 cores, peak RSS <= 1 GB.

With --faults, a lab of M IOS devices per lab fault (the real-device quirks of the
lab: banners, AAA, syslog lines, confirming or slow saves, legacy SSH, ...) is pushed
and its wall time printed against the same lab without faults: the extra cost of each
quirk. The cost of sending configuration lines one at a time (each after the previous
prompt, so that device input buffers survive) is printed as the time per line.

With --ansible and an Ansible venv (ORCH_ANSIBLE_VENV, ./.venv-ansible or ../venv-ansible;
make one with `python -m venv ../venv-ansible && ../venv-ansible/bin/pip install ansible
paramiko` - the `ansible` package ships cisco.ios and ansible.netcommon), a fresh lab of
the same IOS devices is pushed with `cisco.ios.ios_ntp_global` (forks 50, network_cli over
paramiko) and the per-device ratio is printed; otherwise it says why it skipped.

Everything stays on loopback: devices listen on 127.0.x.y and their NTP clients poll
127.0.0.1 on a port nobody serves.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, push_hosts
from orchestrator.lab.inventory import parse_faults
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.spec import DeviceSpec, LabSpec, generated_devices, lab_address
from orchestrator.models import DesiredNtp, Host, NtpServerSpec, PushOutcome

# lab_faults strings, one quirk each (save_delay_s is left out: it is its own 15 s)
FAULTS = (
    "",
    "hostname=dc1-core-router-01-edge",
    "hostname=Loc-S123987345; prompt=%h-STP-1234%p",
    "banner=no_newline",
    "banner=prompt_chars; login_delay_s=1",
    "privilege15",
    "aaa_refuse=terminal length,terminal width",
    "syslog=timestamps",
    "save_confirm",
    "keyboard_interactive",
    "input_buffer=64",
    "legacy_ssh",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_lab(devices: tuple[DeviceSpec, ...], ntp_port: int, conn: Connection) -> None:
    lab = Lab(LabSpec(devices, ntp_port=ntp_port, poll_interval_s=None))
    try:
        conn.send(lab.start(timeout_s=300))
        conn.recv()  # wait until the benchmark is done
    finally:
        lab.stop()


class LabProcess:
    def __init__(self, devices: tuple[DeviceSpec, ...]) -> None:
        self._parent, child = mp.Pipe()
        self._proc = mp.get_context("fork").Process(
            target=_serve_lab, args=(devices, _free_port(), child), daemon=True
        )

    def __enter__(self) -> list[DeviceEndpoint]:
        self._proc.start()
        endpoints: list[DeviceEndpoint] = self._parent.recv()
        return endpoints

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()  # our own child, by handle


def _hosts(endpoints: list[DeviceEndpoint], desired: DesiredNtp) -> list[Host]:
    return [e.as_host(_desired_for(e.platform, desired)) for e in endpoints]


def _desired_for(platform: str, desired: DesiredNtp) -> DesiredNtp:
    if platform == "windows":
        # One peer: the lab's simulated cmd.exe splits `/manualpeerlist:"a b"` at the space
        # (real Windows does not), so a two-peer list would fail there.
        return replace(desired, servers=desired.servers[:1], update_calendar=False)
    return replace(desired, update_calendar=platform == "cisco_ios")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(n: int, workers: int, ansible: bool) -> None:
    port = _free_port()
    devices = generated_devices(n, port=port)
    desired = DesiredNtp((NtpServerSpec("127.0.0.1", prefer=True), NtpServerSpec("127.0.0.2")))
    with LabProcess(devices) as endpoints, tempfile.TemporaryDirectory() as tmp:
        hosts = _hosts(endpoints, desired)
        options = _options(tmp, workers)
        for label in ("first push (changes)", "second push (no-op)"):
            t0, cpu0 = time.perf_counter(), os.times()
            _, results = push_hosts(hosts, options)
            wall, cpu1 = time.perf_counter() - t0, os.times()
            cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            counts = {o.value: sum(r.outcome is o for r in results) for o in PushOutcome}
            summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            print(
                f"N={n:5d} {label:22s} wall {wall:6.1f} s  {n / wall:6.1f} devices/s  "
                f"CPU {cpu:5.1f} s  peak RSS {_peak_rss_mb():4.0f} MB  [{summary}]",
                flush=True,
            )
            failed = [r for r in results if r.outcome is PushOutcome.FAILED][:3]
            for r in failed:
                print(f"    failed: {r.host}: {r.reason}")
            if label.startswith("first"):
                orch_wall = wall
    if ansible:
        # A fresh lab, so that Ansible makes the same change orch made (not a no-op).
        ios = tuple(d for d in devices if d.platform == "cisco_ios")
        with LabProcess(ios) as endpoints, tempfile.TemporaryDirectory() as tmp:
            _ansible(n, _hosts(endpoints, desired), orch_wall, Path(tmp))


# --------------------------------------------------------------------------- Ansible


def _ansible_venv() -> Path | None:
    candidates = [os.environ.get("ORCH_ANSIBLE_VENV"), ".venv-ansible", "../venv-ansible"]
    for c in candidates:
        if c and (Path(c) / "bin" / "ansible-playbook").exists():
            return Path(c)
    return None


PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - cisco.ios.ios_ntp_global:
        config:
          servers:
            - server: 127.0.0.1
              prefer: true
              iburst: true
            - server: 127.0.0.2
              iburst: true
          update_calendar: true
        state: replaced
"""


def _ansible(n: int, hosts: list[Host], orch_wall: float, tmp: Path) -> None:
    venv = _ansible_venv()
    if venv is None:
        print(
            "    ansible: skipped (no venv with ansible-playbook; set ORCH_ANSIBLE_VENV to one "
            "with ansible-core and the cisco.ios collection)"
        )
        return
    inventory = tmp / "ansible_hosts.ini"
    lines = ["[all]"]
    for h in hosts:
        lines.append(
            f"{h.name} ansible_host={h.hostname} ansible_port={h.port} ansible_user={h.username}"
        )
    lines += [
        "[all:vars]",
        "ansible_connection=ansible.netcommon.network_cli",
        "ansible_network_os=cisco.ios.ios",
        "ansible_become=true",
        "ansible_become_method=enable",
        "ansible_host_key_checking=false",
        "ansible_network_cli_ssh_type=paramiko",
    ]
    inventory.write_text("\n".join(lines) + "\n")
    (tmp / "play.yml").write_text(PLAYBOOK)
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_FORKS": "50",
        "ANSIBLE_PASSWORD": hosts[0].password.reveal() if hosts[0].password else "",
        "ANSIBLE_BECOME_PASSWORD": hosts[0].password.reveal() if hosts[0].password else "",
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            str(venv / "bin" / "ansible-playbook"),
            "-i",
            str(inventory),
            str(tmp / "play.yml"),
            "-e",
            "ansible_password={{ lookup('env', 'ANSIBLE_PASSWORD') }}",
            "-e",
            "ansible_become_password={{ lookup('env', 'ANSIBLE_BECOME_PASSWORD') }}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.perf_counter() - t0
    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
    changed = len(re.findall(r"\bchanged=1\b", proc.stdout))
    status += f", {changed} changed"
    if changed < len(hosts):
        errors = [ln for ln in proc.stdout.splitlines() if "fatal:" in ln or "FAILED" in ln]
        print(f"    ansible: {status} for {len(hosts)} devices; no ratio printed")
        for line in errors[:3]:
            print(f"      {line[:300]}")
        return
    orch_ios = orch_wall * len(hosts) / max(n, 1)
    print(
        f"    ansible cisco.ios.ios_ntp_global: {len(hosts)} IOS devices in {wall:.1f} s "
        f"({status}); orch is {wall / max(orch_ios, 1e-9):.1f}x faster (per-device basis)"
    )


def _options(tmp: str, workers: int) -> PushOptions:
    return PushOptions(
        workers=workers,
        timeout_s=120,
        connect_timeout_s=30,
        known_hosts=Path(tmp) / "known_hosts",
        accept_new_host_keys=True,
        backups_dir=Path(tmp) / "backups",
    )


def bench_faults(m: int, workers: int) -> None:
    """Per lab fault: push M IOS devices that have it; the cost against no fault."""
    port = _free_port()
    desired = DesiredNtp((NtpServerSpec("127.0.0.1", prefer=True), NtpServerSpec("127.0.0.2")))
    devices = tuple(
        DeviceSpec(
            f"q{f}-{i}",
            "cisco_ios",
            lab_address(f * m + i),
            port=port,
            faults=parse_faults(text, "push_bench"),
            startup_config=("ntp server 127.0.0.77",),
        )
        for f, text in enumerate(FAULTS)
        for i in range(m)
    )
    print(f"lab faults: {m} IOS devices each, first push (changes)", flush=True)
    with LabProcess(devices) as endpoints, tempfile.TemporaryDirectory() as tmp:
        hosts = [
            replace(h, ssh_legacy_algorithms=True) if "legacy_ssh" in FAULTS[i // m] else h
            for i, h in enumerate(_hosts(endpoints, desired))
        ]
        base = 0.0
        for f, text in enumerate(FAULTS):
            t0 = time.perf_counter()
            _, results = push_hosts(hosts[f * m : (f + 1) * m], _options(tmp, workers))
            wall = time.perf_counter() - t0
            base = base or wall
            ok = sum(r.outcome is PushOutcome.CHANGED for r in results)
            extra = f"{wall - base:+6.2f} s ({wall / base:4.1f}x)" if f else "baseline"
            print(f"  {text or 'no fault':45s} {wall:6.2f} s  {extra}  [{ok}/{m} changed]")
            for r in [r for r in results if r.outcome is not PushOutcome.CHANGED][:2]:
                print(f"      {r.host}: {r.outcome.value}: {r.reason}")
        _line_cost(hosts[0], tmp)


def _line_cost(host: Host, tmp: str, lines: int = 40) -> None:
    """Configuration lines go one at a time, each after the previous prompt; its cost."""
    with open_session(host, known_hosts=Path(tmp) / "known_hosts") as session:
        block = [f"ntp server 127.0.9.{i + 1}" for i in range(lines)]
        t0 = time.perf_counter()
        session.configure(block)
        wall = time.perf_counter() - t0
        session.configure([f"no {line}" for line in block])
    print(
        f"  configuration lines one at a time: {wall / lines * 1000:.2f} ms per line "
        f"({lines} lines in {wall:.2f} s; a push changes 2-6 lines)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100])
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--ansible", action="store_true", help="also time Ansible if available")
    parser.add_argument(
        "--faults", type=int, metavar="M", default=0, help="also push M devices per lab fault"
    )
    args = parser.parse_args(argv)
    # paramiko logs "Socket exception" at ERROR when sessions close; not news here.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    for n in args.sizes:
        if not 1 <= n <= 5000:
            parser.error("N must be between 1 and 5000")
    print(f"orch push benchmark: {os.cpu_count()} CPUs, workers={args.workers}", flush=True)
    for n in args.sizes:
        bench(n, args.workers, args.ansible)
    if args.faults:
        if not 1 <= args.faults <= 100:
            parser.error("--faults M must be between 1 and 100")
        bench_faults(args.faults, args.workers)
    if shutil.which("ansible-playbook") is None and not args.ansible:
        print("(run with --ansible to compare with cisco.ios.ios_ntp_global)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
