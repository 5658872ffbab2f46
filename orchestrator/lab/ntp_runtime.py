"""The I/O shell around orchestrator.ntp.client for one simulated device.

Real UDP from the device's own loopback address to the servers in its configuration,
stamped with the device's (possibly wrong, drifting) clock, so the association table a
device prints is what really happened on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from orchestrator.lab.clock import DeviceClock
from orchestrator.ntp.auth import SymmetricKey
from orchestrator.ntp.client import ClientSystem, PeerAssociation, PollConfig, SystemStatus

log = logging.getLogger(__name__)

DEVICE_PRECISION = -18  # ~4 µs; IOS prints "precision is 2**18" on most platforms


@dataclass(frozen=True)
class ServerTarget:
    """One server line of a device configuration."""

    address: str
    prefer: bool = False
    iburst: bool = False
    minpoll: int = 6
    maxpoll: int = 10
    key: SymmetricKey | None = None  # sign requests with it
    require_auth: bool = False  # only authenticated replies count (`ntp authenticate`)


class DeviceNtpClient(asyncio.DatagramProtocol):
    """Polls the configured servers for one device; owns one UDP socket."""

    def __init__(
        self,
        *,
        source_address: str,
        clock: DeviceClock,
        poll_interval_s: float | None,
        ntp_port: int,
        unreachable: Sequence[str] = (),
    ) -> None:
        self.source_address = source_address
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.ntp_port = ntp_port
        self.unreachable = frozenset(unreachable)
        self.system = ClientSystem(precision=DEVICE_PRECISION)
        # Access control hook (IOS `ntp access-group`): may we take time from this address?
        self.accept_from: Callable[[str], bool] = lambda _address: True
        self.refused = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._opening: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # ------------------------------------------------------------------ configuration

    def configure(self, targets: Sequence[ServerTarget]) -> None:
        """Make the associations match `targets` (called from the device CLI)."""
        now = self.clock.now()
        wanted = {(t.address, self.ntp_port): t for t in targets}
        for key in list(self.system.peers):
            if key not in wanted:
                self.system.remove_server(*key)
        for (address, port), t in wanted.items():
            config = PollConfig(
                minpoll=t.minpoll,
                maxpoll=t.maxpoll,
                iburst=t.iburst,
                prefer=t.prefer,
                interval_override_s=self.poll_interval_s,
            )
            self.system.add_server(
                address, port, config, now_s=now, key=t.key, require_auth=t.require_auth
            )
        if self.system.peers:
            self._ensure_running()
        else:
            self._stop_io()
        self.system.select(now)

    def poll_now(self) -> None:
        """Poll every association at once (`w32tm /resync`)."""
        now = self.clock.now()
        for peer in self.system.peers.values():
            if peer.stopped is None:
                peer.next_poll_s = now
        if self._transport is not None:
            self._reschedule()

    @property
    def peers(self) -> list[PeerAssociation]:
        return list(self.system.peers.values())

    def status(self) -> SystemStatus:
        return self.system.status(self.clock.now())

    def close(self) -> None:
        self._closed = True
        self._stop_io()

    # ------------------------------------------------------------------ I/O

    def _ensure_running(self) -> None:
        """Open the socket once; with it open, re-plan the next poll."""
        if self._closed or self._opening is not None:
            return
        if self._transport is not None:
            self._reschedule()
            return
        self._opening = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(lambda: self, local_addr=(self.source_address, 0))
        except OSError as exc:
            log.warning("%s: cannot open NTP socket: %s", self.source_address, exc)
        finally:
            self._opening = None
        if self._closed or not self.system.peers:
            self._stop_io()
            return
        self._reschedule()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _stop_io(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        wake = self.system.next_wakeup_s()
        if wake is None or self._closed:
            return
        delay = max(0.0, wake - self.clock.now())
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._transport is None:
            return
        now = self.clock.now()
        for peer in self.system.due(now):
            data = peer.make_request(now, random_bits=secrets.randbits(32))
            if peer.address in self.unreachable:
                continue  # lost on the way: the reach register records the miss
            try:
                self._transport.sendto(data, (peer.address, peer.port))
            except OSError as exc:
                log.debug("%s -> %s: %s", self.source_address, peer.address, exc)
        self.system.select(now)
        self._reschedule()

    def datagram_received(self, data: bytes, addr: tuple[str | bytes | int, ...]) -> None:
        arrival = self.clock.now()
        address, port = str(addr[0]), int(addr[1])
        if not self.accept_from(address):
            self.refused += 1
            return
        self.system.receive(address, port, data, arrival)
        self.system.select(arrival)

    def error_received(self, exc: Exception) -> None:
        log.debug("%s: NTP socket error: %s", self.source_address, exc)
