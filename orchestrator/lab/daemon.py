"""The background lab process behind `orch lab up`, and how the CLI controls it.

One process owns everything the lab starts: the simulated devices live in its event
loop, and the real Linux hosts are started from its main thread with a parent-death
signal, so they die with it even when it is killed outright. Its state lives in the
lab state directory:

    lab.pid     the daemon's PID (written by the daemon itself)
    lab.json    {"state": "starting" | "running" | "failed", endpoints, inventory, ...}
    lab.log     its stdout/stderr
    host_key    the simulated devices' SSH host key (kept so known_hosts stays valid)
    inventory/  the inventory of the running lab (hosts point at the lab addresses)

    python -m orchestrator.lab.daemon --state-dir DIR (--inventory DIR | --devices N)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import LabError, OrchError
from orchestrator.lab.inventory import spec_from_inventory, write_inventory
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.spec import LabSpec, LinuxHostsSpec, generated_devices

log = logging.getLogger(__name__)

PID_FILE = "lab.pid"
STATUS_FILE = "lab.json"
LOG_FILE = "lab.log"
HOST_KEY_FILE = "host_key"
INVENTORY_DIR = "inventory"
_MARK = "orchestrator.lab.daemon"


@dataclasses.dataclass(frozen=True)
class LabOptions:
    """What `orch lab up` was asked for."""

    inventory: Path | None = None
    devices: int | None = None
    poll_interval_s: float = 2.0
    ntp_port: int = 123
    ssh_port: int = 2222
    linux: int = 0  # real Linux hosts next to generated devices (--devices N --linux M)
    # Every device on a free port the kernel picks, whatever the inventory says (the demo:
    # it must run beside a lab or anything else on the usual ports).
    free_ports: bool = False

    def argv(self, state_dir: Path) -> list[str]:
        args = [
            "--state-dir",
            str(state_dir),
            "--poll-interval",
            str(self.poll_interval_s),
            "--ntp-port",
            str(self.ntp_port),
            "--ssh-port",
            str(self.ssh_port),
        ]
        if self.devices is not None:
            args += ["--devices", str(self.devices), "--linux", str(self.linux)]
        if self.inventory is not None:
            args += ["--inventory", str(self.inventory.resolve())]
        return args


def build_spec(options: LabOptions, state_dir: Path) -> LabSpec:
    common: dict[str, Any] = {
        "poll_interval_s": options.poll_interval_s,
        "ntp_port": options.ntp_port,
        "host_key_file": state_dir / HOST_KEY_FILE,
    }
    if options.devices is not None:
        if options.devices < 1:
            raise LabError(f"--devices must be at least 1, not {options.devices}")
        password = os.environ.get("ORCH_LAB_PASSWORD", "orch-lab")
        devices = tuple(
            dataclasses.replace(d, password=password, enable_secret=password)
            for d in generated_devices(options.devices, port=options.ssh_port)
        )
        linux = LinuxHostsSpec(count=options.linux, ssh_port=options.ssh_port)
        return LabSpec(devices=devices, linux=linux, **common)
    if options.inventory is None:
        raise LabError("the lab needs an inventory or a device count")
    spec = spec_from_inventory(options.inventory, **common)
    if options.free_ports:
        spec = dataclasses.replace(
            spec,
            devices=tuple(dataclasses.replace(d, port=0) for d in spec.devices),
            linux=dataclasses.replace(spec.linux, ssh_port=0),
        )
    return spec


# --------------------------------------------------------------------------- state files


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATUS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_lab_process(pid: int) -> bool:
    """Is `pid` alive and really a lab (not a recycled PID)?

    The daemon runs as `python -m orchestrator.lab.daemon`; `orch lab up --foreground`
    serves from the CLI process itself.
    """
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if _MARK.encode() in args:
        return True
    return b"lab" in args and b"up" in args[args.index(b"lab") :]


def _exited(pid: int) -> bool:
    """Has `pid` finished (gone, or a zombie waiting for its parent)?"""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def running_pid(state_dir: Path) -> int | None:
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_lab_process(pid) else None


# --------------------------------------------------------------------------- the daemon


def serve(options: LabOptions, state_dir: Path, *, announce: Any = None) -> None:
    """Run the lab in this process until SIGTERM/SIGINT. Used by the daemon and --foreground."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / PID_FILE).write_text(str(os.getpid()))
    _write_json(state_dir / STATUS_FILE, {"state": "starting", "pid": os.getpid()})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    lab: Lab | None = None
    try:
        spec = build_spec(options, state_dir)
        lab = Lab(spec)
        endpoints = loop.run_until_complete(lab.start_async())
        lab.start_linux(state_dir)  # main thread: the hosts' parent-death signal is tied to it
        endpoints = lab.endpoints()
        inventory = write_inventory(
            state_dir / INVENTORY_DIR,
            endpoints,
            source=options.inventory,
            ntp_server=("127.0.0.1", options.ntp_port),
        )
        status: dict[str, Any] = {
            "state": "running",
            "pid": os.getpid(),
            "started": time.time(),
            "inventory": str(inventory),
            "linux": lab.linux_note,
            "poll_interval_s": options.poll_interval_s,
            "ntp_port": options.ntp_port,
            "endpoints": [dataclasses.asdict(e) | {"password": ""} for e in endpoints],
        }
        _write_json(state_dir / STATUS_FILE, status)
        if announce is not None:
            announce(status)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        loop.run_until_complete(stop.wait())
    except OrchError as exc:
        _write_json(state_dir / STATUS_FILE, {"state": "failed", "error": str(exc)})
        raise
    except Exception as exc:
        _write_json(
            state_dir / STATUS_FILE, {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        )
        raise
    finally:
        if lab is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(lab.stop_async())
            lab.stop_linux()
        loop.close()
        with contextlib.suppress(OSError):
            (state_dir / PID_FILE).unlink()
        final = read_status(state_dir)
        if final is not None and final.get("state") == "running":
            with contextlib.suppress(OSError):
                (state_dir / STATUS_FILE).unlink()


# --------------------------------------------------------------------------- control (CLI)


def start_background(
    options: LabOptions, state_dir: Path, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Start the daemon detached; wait until it runs. Returns its status. Raises LabError."""
    pid = running_pid(state_dir)
    if pid is not None:
        raise LabError(f"the lab is already running (pid {pid})", hint="`orch lab down` first")
    state_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        (state_dir / STATUS_FILE).unlink()
    log_file = (state_dir / LOG_FILE).open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", _MARK, *options.argv(state_dir)],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # survives the shell that ran `orch lab up`
        close_fds=True,
    )
    log_file.close()
    try:
        return _wait_running(proc, state_dir, timeout_s)
    except BaseException:
        # Interrupted or failed while starting: leave nothing behind. The child is ours,
        # so stop it by its PID even before it has written its PID file.
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop_background(state_dir)
        raise


def _wait_running(
    proc: subprocess.Popen[bytes], state_dir: Path, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = read_status(state_dir)
        if status is not None and status.get("state") == "running":
            return status
        if status is not None and status.get("state") == "failed":
            proc.wait(10)
            raise LabError(f"the lab did not start: {status.get('error')}")
        if proc.poll() is not None:
            raise LabError(
                f"the lab process exited with status {proc.returncode}",
                hint=f"see {state_dir / LOG_FILE}",
            )
        time.sleep(0.1)
    raise LabError(
        f"the lab did not start within {timeout_s:.0f} s", hint=f"see {state_dir / LOG_FILE}"
    )


def stop_background(state_dir: Path, timeout_s: float = 30.0) -> int | None:
    """Stop the daemon by PID (SIGTERM, then SIGKILL). Returns the PID stopped, or None."""
    pid = running_pid(state_dir)
    if pid is None:
        with contextlib.suppress(OSError):
            (state_dir / PID_FILE).unlink()
        with contextlib.suppress(OSError):
            (state_dir / STATUS_FILE).unlink()
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not _exited(pid):
        time.sleep(0.1)
    if not _exited(pid):
        # The Linux hosts carry a parent-death signal, so they go with it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while not _exited(pid):
            time.sleep(0.05)
    for name in (PID_FILE, STATUS_FILE):
        with contextlib.suppress(OSError):
            (state_dir / name).unlink()
    return pid


def endpoints_of(status: dict[str, Any]) -> list[DeviceEndpoint]:
    return [DeviceEndpoint(**e) for e in status.get("endpoints", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_MARK)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--inventory", type=Path)
    parser.add_argument("--devices", type=int)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--ntp-port", type=int, default=123)
    parser.add_argument("--ssh-port", type=int, default=2222)
    parser.add_argument("--linux", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    options = LabOptions(
        inventory=args.inventory,
        devices=args.devices,
        poll_interval_s=args.poll_interval,
        ntp_port=args.ntp_port,
        ssh_port=args.ssh_port,
        linux=args.linux,
    )
    try:
        serve(options, args.state_dir)
    except OrchError as exc:
        logging.getLogger(_MARK).error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
