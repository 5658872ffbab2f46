"""Host mode synchronised for real: our server follows a private chronyd; real clients accept it.

The machine's kernel clock is unsynchronised and must not be touched, so the host's
time daemon of record here is a private `chronyd -x` (own config, pidfile and command
socket, no NTP port, no UDP command port) synchronised to a first server of ours in
`local` mode on an ephemeral loopback port. A second server of ours in `host` mode
reads that chronyd's tracking over its socket. `chronyd -x` never clears the kernel's
STA_UNSYNC flag, so this also shows chronyd's view winning over that flag.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import ntplib
import pytest

from orchestrator.ntp.server import PHI
from orchestrator.serve import NtpServerRunner, ServerConfig
from orchestrator.serve.hostclock import (
    ChronyTracking,
    chrony_tracking,
    kernel_status,
    measure_precision,
)
from orchestrator.serve.reference import REFID_HOST, HostReference

from .realclients import (
    FAST,
    ChronydClient,
    chrony_conf,
    chronyd_oneshot,
    needs_chrony,
    needs_ntpdig,
    ntpdig_in_netns,
    oneshot_offset_s,
    private_dir,
)

LOCAL_STRATUM = 10  # the first server; the private chronyd is one below, host mode follows it
LOOPBACK_REFID = bytes([127, 0, 0, 1])  # chronyd's reference: our local-mode server
SHORT = 2.0**-16  # resolution of root delay and dispersion on the wire (NTP short format)

T = TypeVar("T")


def _wait(probe: Callable[[], T | None], timeout_s: float, step_s: float = 0.2) -> T | None:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(step_s)


def _settled_tracking(socket: Path) -> ChronyTracking | None:
    """chronyd's tracking once synchronised and settled (its first update claims ~1 s)."""
    tracking = chrony_tracking(socket)
    if tracking is None or not tracking.synchronised or tracking.root_dispersion_s > 0.001:
        return None
    return tracking


def _query_until(address: tuple[str, int], want: Callable[[ntplib.NTPStats], bool]) -> bool:
    def probe() -> bool | None:
        return True if want(_query(address)) else None

    return _wait(probe, timeout_s=5) is not None


@dataclass
class HostChain:
    chronyd: ChronydClient  # the private `chronyd -x`: the daemon of record for host mode
    socket: Path  # its command socket
    host: NtpServerRunner  # our server in host mode, following that chronyd

    @property
    def address(self) -> tuple[str, int]:
        return self.host.addresses[0]


@contextmanager
def host_chain(directory: Path) -> Iterator[HostChain]:
    """local-mode server -> private chronyd -x -> host-mode server, all stopped on exit."""
    runners: list[NtpServerRunner] = []
    chronyd: ChronydClient | None = None
    try:
        local = NtpServerRunner(
            ServerConfig(
                listen=("127.0.0.1",),
                port=0,
                reference="local",
                stratum=LOCAL_STRATUM,
                ratelimit=None,
                persist_client_log=False,
            )
        )
        runners.append(local)
        ((lh, lp),) = local.start()
        d = private_dir(directory, "daemon")
        # minpoll -2 / maxpoll 0: synchronised within a second or two, updated every second
        server = f"server {lh} port {lp} iburst minpoll -2 maxpoll 0"
        chronyd = ChronydClient(d, chrony_conf(d, [server]))
        socket = d / "chronyd.sock"
        tracking = _wait(lambda: _settled_tracking(socket), timeout_s=20)
        assert tracking is not None, (d / "chronyd.log").read_text()
        # interval 0.5 s: the stop test sees chronyd gone within a second
        reference = HostReference(measure_precision(), LOCAL_STRATUM, socket, interval_s=0.5)
        host = NtpServerRunner(
            ServerConfig(
                listen=("127.0.0.1",),
                port=0,
                reference="host",
                chronyc_socket=socket,
                ratelimit=None,
                persist_client_log=False,
            ),
            reference=reference,
        )
        runners.append(host)
        host.start()
        yield HostChain(chronyd, socket, host)
    finally:
        for runner in reversed(runners):
            runner.stop()
        if chronyd is not None:
            chronyd.stop()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostChain]:
    with host_chain(tmp_path_factory.mktemp("hostref")) as c:
        yield c


def _query(address: tuple[str, int]) -> ntplib.NTPStats:
    return ntplib.NTPClient().request(address[0], port=address[1], version=4, timeout=2)


# --------------------------------------------------------------------------- accepted


@needs_chrony
def test_ntplib_sees_host_mode_follow_chronyd(chain: HostChain) -> None:
    before = chain.host.state
    r = _query(chain.address)
    after = chain.host.state
    tracking = chrony_tracking(chain.socket)
    assert before is not None and after is not None and tracking is not None
    # synchronised although the kernel flag says otherwise wherever chronyd runs with -x
    assert (r.leap, r.stratum) == (0, LOCAL_STRATUM + 1) == (tracking.leap, tracking.stratum)
    assert r.ref_id.to_bytes(4, "big") == LOOPBACK_REFID == tracking.ref_id
    # root delay and dispersion as chronyd tracked them, the dispersion grown by
    # 15 ppm/s since chronyd's update (the state may have been refreshed mid-request)
    sent_ns = int(r.tx_time * 1e9)
    assert any(abs(r.root_delay - s.root_delay_s) <= SHORT for s in (before, after))
    assert any(
        abs(r.root_dispersion - s.root_dispersion_at(sent_ns)) <= 2 * SHORT for s in (before, after)
    ), (r.root_dispersion, before, after)
    for s in (before, after):
        assert (
            s.root_dispersion_at(sent_ns)
            >= s.root_dispersion_s + PHI * (sent_ns - s.ref_time_ns) / 1e9 - 1e-12
        )
    assert r.root_dispersion < 0.01 and abs(r.offset) <= r.delay / 2 + 0.001  # same clock


@needs_chrony
def test_chronyd_oneshot_accepts_host_mode(chain: HostChain, tmp_path: Path) -> None:
    host, port = chain.address
    d = private_dir(tmp_path, "q")
    rc, out = chronyd_oneshot(chrony_conf(d, [f"server {host} port {port} iburst {FAST}"]))
    offset = oneshot_offset_s(out)
    assert rc == 0 and offset is not None, out
    assert abs(offset) < 0.01


@needs_chrony
def test_continuous_chronyd_selects_host_mode(chain: HostChain, tmp_path: Path) -> None:
    host, port = chain.address
    d = private_dir(tmp_path, "x")
    client = ChronydClient(d, chrony_conf(d, [f"server {host} port {port} iburst {FAST}"]))
    try:
        out = client.wait_for("^*", "-n", "sources", timeout_s=20)
        assert any(line.startswith("^*") and host in line for line in out.splitlines()), out
        tracking = client.chronyc("-n", "tracking")
        assert re.search(r"Stratum\s*: 12\b", tracking), tracking  # ours (11) + 1
        assert re.search(r"Leap status\s*: Normal", tracking), tracking
    finally:
        client.stop()


@needs_chrony
@needs_ntpdig
def test_ntpdig_accepts_host_mode(chain: HostChain, tmp_path: Path) -> None:
    res = ntpdig_in_netns(
        tmp_path, "host", ["-j", "-t", "3", "-p", "2"], chronyc_socket=chain.socket
    )
    assert res["rc"] == 0, res
    data = json.loads(str(res["stdout"]))
    assert data["stratum"] == LOCAL_STRATUM + 1 and data["leap"] == "no-leap", data
    assert abs(data["offset"]) < 0.01


# --------------------------------------------------------------------------- chronyd gone


@needs_chrony
def test_host_mode_drops_to_li3_when_chronyd_stops(tmp_path: Path) -> None:
    with host_chain(tmp_path) as c:
        host, port = c.address
        d = private_dir(tmp_path, "x")
        client = ChronydClient(d, chrony_conf(d, [f"server {host} port {port} iburst {FAST}"]))
        try:
            out = client.wait_for("^*", "-n", "sources", timeout_s=20)
            assert any(line.startswith("^*") for line in out.splitlines()), out
            c.chronyd.stop()  # the daemon of record is gone: the kernel decides again
            kernel = kernel_status()
            if kernel is None or not kernel.synchronised:
                assert _query_until(c.address, lambda r: (r.leap, r.stratum) == (3, 0))
                seen = client.wait_for("Not synchronised", "-n", "ntpdata", host, timeout_s=10)
                assert re.search(r"Leap status\s*: Not synchronised", seen), seen
                assert re.search(r"Stratum\s*: 0\b", seen), seen
            else:  # a kernel synchronised by another discipline: its own honest claim
                assert _query_until(c.address, lambda r: r.ref_id.to_bytes(4, "big") == REFID_HOST)
        finally:
            client.stop()
