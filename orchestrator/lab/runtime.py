"""Run a lab: every simulated device in one asyncio loop, plus the real Linux hosts.

    lab = Lab(spec)
    endpoints = lab.start()      # background thread with its own event loop
    ...
    lab.stop()

`run_forever(spec)` is the same in the foreground, for the `orch lab up` daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from orchestrator.errors import LabError
from orchestrator.lab.device import SimDevice
from orchestrator.lab.spec import DeviceSpec, LabSpec
from orchestrator.models import DesiredNtp, Host, Secret

log = logging.getLogger(__name__)


class _DroppedPeerWrites(logging.Filter):
    """asyncio warns "socket.send() raised exception." for every write to a client that
    has already hung up (netmiko closes right after `exit`); in a lab serving hundreds
    of sessions that is noise, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("socket.send() raised exception")


_ASYNCIO_FILTER = _DroppedPeerWrites()


@dataclass(frozen=True)
class DeviceEndpoint:
    """Where and how to log in to one lab device."""

    name: str
    platform: str
    address: str
    port: int
    username: str
    password: str
    key_file: str | None = None

    def as_host(
        self, desired: DesiredNtp, *, site: str = "lab", groups: tuple[str, ...] = ()
    ) -> Host:
        """The inventory host that reaches this device (tests and benchmarks build fleets
        from a running lab without writing YAML). Lab devices take their login password
        as enable secret too."""
        return Host(
            name=self.name,
            hostname=self.address,
            platform=self.platform,
            port=self.port,
            username=self.username,
            password=Secret(self.password),
            site=site,
            groups=groups,
            desired=desired,
            enable_secret=Secret(self.password),
            ssh_key_file=self.key_file,
        )


def make_device(spec: DeviceSpec, lab: LabSpec) -> SimDevice:
    from orchestrator.lab.catos import CatosDevice
    from orchestrator.lab.ios import IosDevice
    from orchestrator.lab.windows import WindowsDevice

    factories: dict[str, Callable[[DeviceSpec, LabSpec], SimDevice]] = {
        "cisco_ios": IosDevice,
        "cisco_catos": CatosDevice,
        "windows": WindowsDevice,
    }
    try:
        return factories[spec.platform](spec, lab)
    except KeyError:
        raise LabError(
            f"lab device {spec.name}: platform {spec.platform!r} cannot be simulated",
            hint="use cisco_ios, cisco_catos or windows",
        ) from None


def load_host_key(path: Path | None) -> asyncssh.SSHKey:
    """The lab's SSH host key: kept in `path` so clients' known_hosts stay valid."""
    if path is not None and path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        key.write_private_key(str(path))
        path.chmod(0o600)
    return key


class Lab:
    """A running lab of simulated devices (and Linux hosts when available)."""

    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self.devices: dict[str, SimDevice] = {}
        self.linux_endpoints: list[DeviceEndpoint] = []
        self.linux_note = ""
        self._acceptors: list[asyncssh.SSHAcceptor] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._linux_pool: Any = None

    # ------------------------------------------------------------------ in the loop

    async def start_async(self) -> list[DeviceEndpoint]:
        logging.getLogger("asyncio").addFilter(_ASYNCIO_FILTER)
        host_key = load_host_key(self.spec.host_key_file)
        names = set()
        for dspec in self.spec.devices:
            if dspec.name in names:
                raise LabError(f"lab device name {dspec.name!r} is used twice")
            names.add(dspec.name)
            device = make_device(dspec, self.spec)
            self.devices[dspec.name] = device
        from orchestrator.lab.ssh import listen

        try:
            for device in self.devices.values():
                try:
                    acceptor = await listen(device, host_key)
                    self._acceptors.append(acceptor)
                    # Port 0 in the spec: the kernel picked one; remember it.
                    device.port = acceptor.sockets[0].getsockname()[1]
                except OSError as exc:
                    raise LabError(
                        f"lab device {device.hostname}: cannot listen on "
                        f"{device.spec.address}:{device.spec.port}: {exc.strerror or exc}",
                        hint="is another lab running? try `orch lab down`",
                    ) from exc
                device.start()
        except BaseException:
            await self.stop_async()
            raise
        return self.endpoints()

    async def stop_async(self) -> None:
        for acceptor in self._acceptors:
            acceptor.close()
        for acceptor in self._acceptors:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(acceptor.wait_closed(), 5)
        self._acceptors.clear()
        for device in self.devices.values():
            device.stop()
        # Let the aborted sessions' tasks finish so none is destroyed while pending.
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=2)

    def endpoints(self) -> list[DeviceEndpoint]:
        eps = [
            DeviceEndpoint(
                d.spec.name,
                d.spec.platform,
                d.spec.address,
                d.port,
                d.spec.username,
                d.spec.password,
            )
            for d in self.devices.values()
        ]
        return eps + self.linux_endpoints

    # ------------------------------------------------------------------ Linux hosts

    def start_linux(self, state_dir: Path) -> None:
        """Start the real Linux hosts if asked for and possible; say why not otherwise."""
        count = self.spec.linux.count
        if count <= 0:
            return
        try:
            from orchestrator.lab import linux_hosts  # built by the Linux engineer
        except ImportError:
            self.linux_note = "Linux hosts: not available yet"
            return
        missing_fn = getattr(linux_hosts, "missing_requirements", None)
        pool_cls = getattr(linux_hosts, "LinuxHostPool", None)
        if missing_fn is None or pool_cls is None:
            self.linux_note = "Linux hosts: not available yet"
            return
        kinds = self.spec.linux.kinds or ("chrony",) * count
        missing = list(missing_fn(tuple(dict.fromkeys(kinds))))
        if all(missing_fn((kind,)) for kind in set(kinds)):
            self.linux_note = "Linux hosts: not started, missing " + ", ".join(missing)
            return
        skip: dict[str, str] = {}
        if self.spec.ntp_port != 123:
            # ntpd and timesyncd have no port option: they could never reach this server.
            for kind in ("ntpsec", "timesyncd"):
                skip[kind] = (
                    f"its daemon only talks to port 123 and the lab's NTP server is on "
                    f"port {self.spec.ntp_port} (run the lab as root with port 123 free)."
                )
        extra: dict[str, Any] = {}
        if self.spec.linux.ssh_port is not None:
            extra["ssh_port"] = self.spec.linux.ssh_port
        pool = pool_cls(
            state_dir,
            count,
            base_address=self.spec.linux.base_address,
            # Start like a fresh host with no time source: `orch push` is what configures
            # them (a server preset in chrony.conf would make the push a silent duplicate).
            ntp_servers=[],
            names=self.spec.linux.names or None,
            kinds=kinds,
            skip_unavailable=True,  # what cannot run here is said, the rest starts
            skip=skip,
            **extra,
        )
        infos = pool.start()
        self._linux_pool = pool
        self.linux_endpoints = [
            DeviceEndpoint(
                i.name,
                "linux",
                i.address,
                int(i.port),
                i.username,
                "",
                key_file=str(i.key_file),
            )
            for i in infos
        ]
        started = ", ".join(f"{i.name} ({i.kind})" for i in infos)
        self.linux_note = f"Linux hosts: {len(infos)} started: {started}"
        for kind, reasons in pool.skipped.items():
            self.linux_note += f"; {kind} hosts not started, missing " + " ".join(reasons)

    def stop_linux(self) -> None:
        pool, self._linux_pool = self._linux_pool, None
        if pool is not None:
            pool.stop()
        self.linux_endpoints = []

    # ------------------------------------------------------------------ background thread

    def start(self, *, timeout_s: float = 60.0) -> list[DeviceEndpoint]:
        """Start in a background thread with its own event loop; return the endpoints."""
        if self._thread is not None:
            raise LabError("this lab is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="orch-lab", daemon=True)
        self._thread.start()
        ready.wait()
        future = asyncio.run_coroutine_threadsafe(self.start_async(), loop)
        try:
            return future.result(timeout_s)
        except BaseException:
            self._shutdown_thread()
            raise

    def call(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Run `fn` in the lab's loop (device state is only touched there)."""
        if self._loop is None:
            return fn()

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout_s)

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop_async(), self._loop).result(15)
        except Exception as exc:  # stopping must finish even if a device misbehaves
            log.warning("lab stop: %s", exc)
        self.stop_linux()
        self._shutdown_thread()

    def _shutdown_thread(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        loop.close()

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
