"""Reference tracking against live peers: chronyd's tracking, and upstream servers that lie."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.ntp.client import PollConfig
from orchestrator.ntp.server import NtpServerCore, Respond, ServerPolicy, SystemState
from orchestrator.serve.hostclock import chrony_tracking
from orchestrator.serve.reference import UpstreamReference

from .realclients import ChronydClient, chrony_conf, needs_chrony, private_dir


@needs_chrony
def test_chronyc_tracking_from_a_private_chronyd(tmp_path: Path) -> None:
    d = private_dir(tmp_path, "c")
    chronyd = ChronydClient(d, chrony_conf(d, [], ["local stratum 8"]))
    try:
        tracking = None
        deadline = time.monotonic() + 15
        while tracking is None and time.monotonic() < deadline:
            tracking = chrony_tracking(d / "chronyd.sock")
            time.sleep(0.2)
        assert tracking is not None
        assert tracking.stratum == 8 and tracking.synchronised and tracking.leap == 0
        assert tracking.ref_id == bytes.fromhex("7F7F0101")  # chrony's local refid
        assert abs(tracking.ref_time_ns / 1e9 - time.time()) < 120
    finally:
        chronyd.stop()
    assert chrony_tracking(d / "gone.sock", timeout_s=2) is None


def _serve(offset_s: float) -> Iterator[tuple[str, int]]:
    """An upstream NTP server (our core) whose clock is `offset_s` off; loopback only."""
    shift = int(offset_s * 1e9)
    state = SystemState(leap=0, stratum=2, ref_id=bytes([127, 0, 0, 9]),
                        ref_time_ns=time.time_ns() + shift, root_delay_s=0.002,
                        root_dispersion_s=0.001, precision=-20)  # fmt: skip
    core = NtpServerCore(ServerPolicy(ratelimit=None), state)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(1024)
            except TimeoutError:
                continue
            clock = lambda: time.time_ns() + shift  # noqa: E731
            out = core.handle(addr[0], clock(), data, clock, random.getrandbits(96))
            if isinstance(out, Respond):
                sock.sendto(out.data, addr)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        t.join(2)
        sock.close()


def _follow(
    server: tuple[str, int], max_offset_s: float, max_delay_s: float = 1.0
) -> tuple[SystemState, UpstreamReference]:
    """Follow `server` until a peer is selected whose best sample's delay is under `max_delay_s`.

    The delay bound matters on a loaded machine: a sample whose request waited 100 ms for a CPU
    has a 100 ms delay and an offset error of up to half that, which the clock filter only
    forgets once a quicker sample arrives.
    """
    ref = UpstreamReference(
        [server],
        precision=-20,
        max_offset_s=max_offset_s,
        poll=PollConfig(iburst=True, interval_override_s=0.2),
    )
    try:
        deadline = time.monotonic() + 20
        state = ref.update()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            state = ref.update()
            peer = ref.system.sys_peer
            ready = ref.last_offset_s is not None and peer is not None
            if ready and peer is not None and peer.filter.delay_s < max_delay_s:
                break
        return state, ref
    finally:
        ref.close()


def test_upstream_that_agrees_makes_us_synchronised() -> None:
    for server in _serve(0.0):
        state, ref = _follow(server, max_offset_s=0.128, max_delay_s=0.01)
        assert state.synchronised and state.stratum == 3 and state.leap == 0
        assert state.ref_id == bytes([127, 0, 0, 1])  # the upstream's address
        assert state.root_delay_s >= 0.002  # upstream's root delay + our measured delay
        peer = ref.system.sys_peer
        assert peer is not None and peer.filter.delay_s < 0.01
        # Same clock both ends: the measured offset is within half the round trip of zero.
        assert ref.last_offset_s is not None
        assert abs(ref.last_offset_s) <= peer.filter.delay_s / 2 + 0.001


@pytest.mark.parametrize("offset_s", [2.0, -0.5])
def test_upstream_far_from_our_clock_makes_us_unsynchronised(offset_s: float) -> None:
    for server in _serve(offset_s):
        state, ref = _follow(server, max_offset_s=0.128, max_delay_s=0.01)
        peer = ref.system.sys_peer
        assert ref.last_offset_s is not None and peer is not None
        error_bound = peer.filter.delay_s / 2 + 0.001
        assert ref.last_offset_s == pytest.approx(offset_s, abs=error_bound)  # measured, and...
        assert (state.leap, state.stratum, state.synchronised) == (3, 16, False)  # ...refused
