"""Where the server's time comes from: the host clock, upstream servers, or nothing (local).

Every reference serves the host's system clock; they differ in what the header
*claims* about it (leap, stratum, refid, root delay and dispersion), which must
be the truth:

  * `host`: where chronyd answers, its tracking decides (LI, stratum, refid, root
    delay/dispersion), also when the kernel still flags the clock unsynchronised;
    where it does not, the kernel's adjtimex status does. See `host_state`.
  * `upstream`: we poll the configured servers ourselves with the lab's sans-I/O
    client (orchestrator.ntp.client: filter, selection); stratum = theirs + 1,
    refid = their address; unsynchronised when the measured offset of the host
    clock exceeds `max_offset_s` or no server is usable.
  * `local`: a free-running clock at a fixed stratum, refid LOCL, for isolated sites.

`update()` may do I/O (never blocking for long) and is called by the runner's tracker
thread every `interval_s`; it returns the `SystemState` the workers should use.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import time
from pathlib import Path
from typing import Protocol

from orchestrator.errors import ConfigError
from orchestrator.ntp import packet as pk
from orchestrator.ntp.client import ClientSystem, PollConfig
from orchestrator.ntp.server import SystemState
from orchestrator.serve import hostclock
from orchestrator.serve.udp import SO_TIMESTAMPNS, parse_ancillary

REFID_LOCAL = b"LOCL"
REFID_HOST = b"HOST"  # kernel synchronised by something other than chronyd: source unknown


class Reference(Protocol):
    name: str
    interval_s: float

    def update(self) -> SystemState: ...

    def close(self) -> None: ...


class LocalReference:
    """Free-running local clock: LI=0, fixed stratum, refid LOCL, updated every interval."""

    name = "local"

    def __init__(self, stratum: int, precision: int, interval_s: float = 16.0) -> None:
        if not 1 <= stratum <= 15:
            raise ConfigError(f"--stratum {stratum} is out of range", hint="use 1..15")
        self.stratum = stratum
        self.precision = precision
        self.interval_s = interval_s

    def update(self) -> SystemState:
        return SystemState(
            leap=pk.LEAP_NONE,
            stratum=self.stratum,
            ref_id=REFID_LOCAL,
            ref_time_ns=time.time_ns(),
            root_delay_s=0.0,
            root_dispersion_s=0.0,
            precision=self.precision,
        )

    def close(self) -> None:
        pass


def host_state(
    kernel: hostclock.KernelClock | None,
    tracking: hostclock.ChronyTracking | None,
    *,
    now_ns: int,
    precision: int,
    fallback_stratum: int,
    max_offset_s: float = 0.128,
) -> SystemState:
    """The system state that the host clock's status justifies (pure).

    `tracking` is chronyd's view (None: no chronyd answered). chronyd, where it
    runs, is the time daemon of record and its view wins over the kernel's
    STA_UNSYNC flag in both directions: a chronyd that does not control the
    clock (`-x`, or a container without CAP_SYS_TIME) never clears that flag,
    yet it measures the system clock against its sources all the same, and that
    measurement, not a flag nobody maintains, is what tells whether the clock we
    serve is right. Because such a chronyd does not correct the clock, the
    system-clock offset it measures is an error we serve: beyond `max_offset_s`
    we are unsynchronised, below it the offset is added to the root dispersion.
    """
    unsynchronised = SystemState(precision=precision)
    if tracking is not None:
        offset = abs(tracking.system_offset_s)
        if not tracking.synchronised or offset > max_offset_s:
            return unsynchronised
        kernel_leap = kernel.leap if kernel is not None and kernel.synchronised else 0
        return SystemState(
            leap=kernel_leap or tracking.leap,  # a leap second the kernel has armed counts too
            stratum=tracking.stratum,  # chronyd's source + 1: the clock we serve is its clock
            ref_id=tracking.ref_id,
            ref_time_ns=tracking.ref_time_ns,
            root_delay_s=tracking.root_delay_s,
            root_dispersion_s=tracking.root_dispersion_s + offset,
            precision=precision,
        )
    if kernel is None or not kernel.synchronised:
        return unsynchronised
    # Synchronised by an unknown discipline (ntpd, timesyncd, PTP): the kernel's maximum
    # error bound is the honest dispersion; it grows by itself, so the reference is "now".
    return SystemState(
        leap=kernel.leap,
        stratum=fallback_stratum,
        ref_id=REFID_HOST,
        ref_time_ns=now_ns,
        root_delay_s=0.0,
        root_dispersion_s=kernel.maxerror_s,
        precision=precision,
    )


class HostReference:
    """Follow the host clock (adjtimex + chronyd tracking when chronyd runs)."""

    name = "host"

    def __init__(
        self,
        precision: int,
        fallback_stratum: int,
        chronyc_socket: Path | None = None,
        interval_s: float = 8.0,
        max_offset_s: float = 0.128,
    ) -> None:
        self.precision = precision
        self.fallback_stratum = fallback_stratum
        self.chronyc_socket = chronyc_socket
        self.interval_s = interval_s
        self.max_offset_s = max_offset_s

    def update(self) -> SystemState:
        # chronyd is asked even when the kernel says unsynchronised: its view decides
        # (host_state). chronyc fails at once where no chronyd listens on the socket.
        kernel = hostclock.kernel_status()
        tracking = hostclock.chrony_tracking(self.chronyc_socket)
        return host_state(
            kernel,
            tracking,
            now_ns=time.time_ns(),
            precision=self.precision,
            fallback_stratum=self.fallback_stratum,
            max_offset_s=self.max_offset_s,
        )

    def close(self) -> None:
        pass


def parse_server(text: str) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:1123', '::1', '[::1]:1123' -> (address, port)."""
    host, port = text.strip(), 123
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        host = inner
        if rest.startswith(":"):
            port = int(rest[1:]) if rest[1:].isdigit() else -1
    elif host.count(":") == 1:
        host, _, p = host.partition(":")
        port = int(p) if p.isdigit() else -1
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"upstream {text!r} is not an IP address", hint="give ADDR or ADDR:PORT"
        ) from None
    if not 0 < port < 65536:
        raise ConfigError(f"upstream {text!r}: bad port")
    return host, port


class UpstreamReference:
    """Poll upstream servers with our own client and follow the one selected."""

    name = "upstream"

    def __init__(
        self,
        servers: list[tuple[str, int]],
        precision: int,
        max_offset_s: float = 0.128,
        poll: PollConfig | None = None,
        interval_s: float = 0.25,
    ) -> None:
        if not servers:
            raise ConfigError("--reference upstream needs at least one --upstream ADDR")
        self.precision = precision
        self.max_offset_s = max_offset_s
        self.interval_s = interval_s
        self.system = ClientSystem(precision=precision)
        self._random = random.Random()
        now = time.time()
        cfg = poll or PollConfig(minpoll=4, maxpoll=6, iburst=True)
        for host, port in servers:
            self.system.add_server(host, port, cfg, now_s=now)
        self._sockets: dict[int, socket.socket] = {}
        for host, _ in servers:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            if family not in self._sockets:
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # kernel arrival time
                s.setblocking(False)
                self._sockets[family] = s
        self.last_offset_s: float | None = None

    def update(self) -> SystemState:
        now = time.time()
        for peer in self.system.due(now):
            family = socket.AF_INET6 if ":" in peer.address else socket.AF_INET
            data = peer.make_request(time.time(), random_bits=self._random.getrandbits(32))
            try:
                self._sockets[family].sendto(data, (peer.address, peer.port))
            except OSError:
                continue  # unreachable now; the reach register will say so
        self._drain()
        now = time.time()
        if self.system.select(now) is None:
            return SystemState(precision=self.precision)
        status = self.system.status(now)
        ref_s = status.reference_time_s if status.reference_time_s is not None else now
        status = self.system.status(ref_s)  # dispersion as of the update; workers add PHI*age
        self.last_offset_s = status.offset_s
        if not status.synchronized or abs(status.offset_s) > self.max_offset_s:
            return SystemState(precision=self.precision)
        return SystemState(
            leap=status.leap,
            stratum=status.stratum,
            ref_id=status.ref_id,
            ref_time_ns=int(ref_s * 1e9),
            root_delay_s=status.root_delay_s,
            root_dispersion_s=status.root_dispersion_s,
            precision=self.precision,
        )

    def _drain(self) -> None:
        """Read every reply that arrived since the last tick (kernel-stamped on arrival)."""
        for s in self._sockets.values():
            while True:
                try:
                    data, anc, _flags, addr = s.recvmsg(1024, 256)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue  # ICMP port unreachable and the like
                rx_ns, _ = parse_ancillary(anc)
                arrival = rx_ns / 1e9 if rx_ns is not None else time.time()
                self.system.receive(addr[0], addr[1], data, arrival)

    def close(self) -> None:
        for s in self._sockets.values():
            s.close()
