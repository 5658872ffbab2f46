"""Real NTP clients against our server on loopback, in every reference mode.

Host mode synchronised by a (private) chronyd is in test_host_reference_real.py.

ntplib (pure Python) always runs; chronyd/chronyc and ntpdig need root and the Debian
packages and are skipped cleanly without them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import ntplib
import pytest

from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.serve.clientlog_store import read_client_log

from .conftest import StartServer
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


def _upstream_pair(start_server: StartServer) -> tuple[str, int]:
    """A local-stratum-3 server, and an upstream-mode server of ours following it."""
    upstream = start_server(reference="local", stratum=3)
    uh, up = upstream.addresses[0]
    follower = start_server(reference="upstream", upstream=(f"{uh}:{up}",))
    return follower.addresses[0]


def _wait_synchronised(start_server: StartServer) -> tuple[str, int]:

    host, port = _upstream_pair(start_server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = ntplib.NTPClient().request(host, port=port, version=4, timeout=1)
        if r.leap != 3:
            return host, port
        time.sleep(0.5)
    raise AssertionError("the upstream-mode server never synchronised to its upstream")


# --------------------------------------------------------------------------- ntplib


@pytest.mark.parametrize("version", [2, 3, 4])
def test_ntplib_local_reference(start_server: StartServer, version: int) -> None:
    server = start_server(reference="local", stratum=7)
    host, port = server.addresses[0]
    r = ntplib.NTPClient().request(host, port=port, version=version, timeout=2)
    assert (r.leap, r.version, r.mode, r.stratum) == (0, version, 4, 7)
    assert r.ref_id.to_bytes(4, "big") == b"LOCL"
    assert ntplib.ref_id_to_text(r.ref_id, 1) == "uncalibrated local clock"  # ntplib knows LOCL
    # one sample, same clock both ends: its offset error is at most half its round trip
    assert 0 <= r.delay < 0.5 and abs(r.offset) <= r.delay / 2 + 0.001
    time.sleep(0.5)  # the worker flushes its client log every 0.2 s here
    (entry,) = read_client_log(server.config.client_log_path)
    assert (entry.address, entry.requests, entry.responses) == ("127.0.0.1", 1, 1)


def test_ntplib_host_reference_tells_the_truth(start_server: StartServer, tmp_path: Path) -> None:
    from orchestrator.serve.hostclock import kernel_status

    # no chronyd on this socket: the kernel decides (test_host_reference_real: with one)
    server = start_server(reference="host", chronyc_socket=tmp_path / "no-chronyd.sock")
    host, port = server.addresses[0]
    r = ntplib.NTPClient().request(host, port=port, version=4, timeout=2)
    kernel = kernel_status()
    if kernel is not None and not kernel.synchronised:
        assert (r.leap, r.stratum) == (3, 0)  # unsynchronised host: LI=3, stratum 0
    else:
        assert r.leap != 3 and 1 <= r.stratum <= 15


def test_ntplib_upstream_reference(start_server: StartServer) -> None:
    host, port = _wait_synchronised(start_server)
    r = ntplib.NTPClient().request(host, port=port, version=4, timeout=2)
    assert r.stratum == 4  # upstream stratum 3 + 1
    assert ntplib.ref_id_to_text(r.ref_id, r.stratum) == "127.0.0.1"
    assert r.leap == 0


def test_ntplib_upstream_unreachable_is_unsynchronised(start_server: StartServer) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # nobody answers here
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        server = start_server(reference="upstream", upstream=(f"127.0.0.1:{port}",))
        h, p = server.addresses[0]
        r = ntplib.NTPClient().request(h, port=p, version=4, timeout=2)
    assert (r.leap, r.stratum) == (3, 0)


# --------------------------------------------------------------------------- chronyd -Q


@needs_chrony
def test_chronyd_oneshot_local(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(
        reference="local",
        ratelimit=RateLimitConfig(),  # the default rate limit: iburst must get through
    )
    host, port = server.addresses[0]
    d = private_dir(tmp_path, "q")
    rc, out = chronyd_oneshot(chrony_conf(d, [f"server {host} port {port} iburst"]))
    offset = oneshot_offset_s(out)
    assert rc == 0 and offset is not None, out
    assert abs(offset) < 0.01


@needs_chrony
def test_chronyd_oneshot_upstream(start_server: StartServer, tmp_path: Path) -> None:
    host, port = _wait_synchronised(start_server)
    d = private_dir(tmp_path, "q")
    rc, out = chronyd_oneshot(chrony_conf(d, [f"server {host} port {port} iburst {FAST}"]))
    assert rc == 0 and oneshot_offset_s(out) is not None, out


@needs_chrony
def test_chronyd_oneshot_refuses_unsynchronised_host(
    start_server: StartServer, tmp_path: Path
) -> None:
    from orchestrator.serve.hostclock import kernel_status

    kernel = kernel_status()
    if kernel is None or kernel.synchronised:
        pytest.skip("the host clock is synchronised here: nothing to refuse")
    server = start_server(reference="host", chronyc_socket=tmp_path / "no-chronyd.sock")
    host, port = server.addresses[0]
    d = private_dir(tmp_path, "q")
    conf = chrony_conf(d, [f"server {host} port {port} iburst {FAST}"])
    rc, out = chronyd_oneshot(conf, timeout_s=3)
    assert rc != 0 and oneshot_offset_s(out) is None, out  # LI=3: chrony will not use us

    time.sleep(0.5)  # one flush interval
    (entry,) = read_client_log(server.config.client_log_path)
    assert entry.responses >= 1  # ...although we did answer


# --------------------------------------------------------------------------- chronyd -x


def _selected(out: str, host: str, port: int) -> bool:
    # `chronyc -n sources`: "^* 127.0.0.1    10   0   377 ..." (state '*' = selected)
    return any(line.startswith("^*") and host in line for line in out.splitlines())


@needs_chrony
@pytest.mark.parametrize("mode", ["local", "upstream"])
def test_continuous_chronyd_selects_our_server(
    start_server: StartServer, tmp_path: Path, mode: str
) -> None:
    if mode == "local":
        host, port = start_server(reference="local", stratum=10).addresses[0]
    else:
        host, port = _wait_synchronised(start_server)
    d = private_dir(tmp_path, "x")
    client = ChronydClient(d, chrony_conf(d, [f"server {host} port {port} iburst {FAST}"]))
    try:
        out = client.wait_for("^*", "-n", "sources", timeout_s=40)
        assert _selected(out, host, port), out
        tracking = client.chronyc("-n", "tracking")
        assert "Leap status     : Normal" in tracking, tracking
    finally:
        client.stop()


@needs_chrony
def test_continuous_chronyd_sees_li3_from_unsynchronised_host(
    start_server: StartServer, tmp_path: Path
) -> None:
    from orchestrator.serve.hostclock import kernel_status

    kernel = kernel_status()
    if kernel is None or kernel.synchronised:
        pytest.skip("the host clock is synchronised here")
    no_chronyd = tmp_path / "no-chronyd.sock"
    host, port = start_server(reference="host", chronyc_socket=no_chronyd).addresses[0]
    d = private_dir(tmp_path, "x")
    client = ChronydClient(d, chrony_conf(d, [f"server {host} port {port} iburst {FAST}"]))
    try:
        out = client.wait_for("Not synchronised", "-n", "ntpdata", host, timeout_s=30)
        assert re.search(r"Leap status\s*: Not synchronised", out), out
        assert re.search(r"Stratum\s*: 0", out), out
        assert not _selected(client.chronyc("-n", "sources"), host, port)
    finally:
        client.stop()


# --------------------------------------------------------------------------- ntpdig


@needs_ntpdig
@pytest.mark.parametrize(("reference", "stratum"), [("local", 10), ("upstream", 4)])
def test_ntpdig(tmp_path: Path, reference: str, stratum: int) -> None:
    res = ntpdig_in_netns(tmp_path, reference, ["-j", "-t", "3", "-p", "2"])
    assert res["rc"] == 0, res
    import json

    data = json.loads(str(res["stdout"]))
    assert data["stratum"] == stratum and data["leap"] == "no-leap" and abs(data["offset"]) < 0.01


@needs_ntpdig
def test_ntpdig_drops_unsynchronised_host(tmp_path: Path) -> None:
    from orchestrator.serve.hostclock import kernel_status

    kernel = kernel_status()
    if kernel is None or kernel.synchronised:
        pytest.skip("the host clock is synchronised here")
    no_chronyd = tmp_path / "no-chronyd.sock"
    res = ntpdig_in_netns(tmp_path, "host", ["-t", "3"], chronyc_socket=no_chronyd)
    assert res["rc"] != 0
    assert "stratum 0" in str(res["stderr"]) or "leap not in sync" in str(res["stderr"]), res
