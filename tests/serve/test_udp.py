"""The socket layer: replies leave from the address the request came to; IPv6; workers."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import ntplib
import pytest

from orchestrator.errors import ServerError
from orchestrator.ntp import packet as P
from orchestrator.ntp import timestamps as T
from orchestrator.ntp.server import NtpServerCore, Respond
from orchestrator.serve import NtpServerRunner, ServerConfig
from orchestrator.serve.clientlog_store import read_status
from orchestrator.serve.udp import open_socket

from .conftest import StartServer


def _ask(family: int, target: tuple[str, int], source: str) -> tuple[bytes, tuple[str, int]]:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(3)
        s.sendto(P.client_request(T.from_unix_ns(time.time_ns())).encode(), target)
        data, peer = s.recvfrom(1024)
        return data, (peer[0], peer[1])


def test_wildcard_socket_replies_from_the_address_asked(start_server: StartServer) -> None:
    server = start_server(listen=("0.0.0.0",), allow=("127.0.0.0/8",))
    port = server.addresses[0][1]
    for dst in ("127.0.0.1", "127.0.0.53", "127.1.2.3"):
        data, (src, sport) = _ask(socket.AF_INET, (dst, port), "127.0.0.9")
        assert (src, sport) == (dst, port)  # IP_PKTINFO: from the destination of the request
        assert P.decode(data).mode == 4


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_wildcard_and_explicit(start_server: StartServer) -> None:
    server = start_server(listen=("::", "127.0.0.1"), allow=("::1", "127.0.0.1"))
    (_, port), (_, port4) = server.addresses
    assert port == port4  # one port for every address
    data, (src, _) = _ask(socket.AF_INET6, ("::1", port), "::1")
    assert src == "::1" and P.decode(data).mode == 4
    data, (src, _) = _ask(socket.AF_INET, ("127.0.0.1", port), "127.0.0.1")
    assert src == "127.0.0.1"


def test_kernel_receive_timestamp_is_used(start_server: StartServer) -> None:
    # T2 (kernel RX) <= T3 (read last), and both lie between our send and receive times
    server = start_server()
    before = time.time_ns()
    data, _ = _ask(socket.AF_INET, server.addresses[0], "127.0.0.1")
    after = time.time_ns()
    r = P.decode(data)
    t2, t3 = T.to_unix_ns(r.receive_ts), T.to_unix_ns(r.transmit_ts)
    assert before - 1000 <= t2 <= t3 <= after + 1000


def test_process_workers_share_the_port(tmp_path: Path) -> None:
    cfg = ServerConfig(
        listen=("127.0.0.1",),
        port=0,
        reference="local",
        ratelimit=None,
        workers=2,
        client_log=tmp_path / "c.sqlite",
        flush_interval_s=0.2,
    )
    with NtpServerRunner(cfg) as server:
        host, port = server.addresses[0]
        client = ntplib.NTPClient()
        for i in range(20):
            # different source ports hash to different workers
            assert client.request(host, port=port, version=4, timeout=2).stratum == 10, i
    status = read_status(tmp_path / "c.sqlite")  # both workers flushed on stop
    assert status.counters["answered"] == 20
    assert status.clients[0].requests == 20
    assert status.meta["workers"] == "2" and "stopped" in status.meta


def test_bind_errors_say_why() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: nobody can share it
        with pytest.raises(ServerError, match="already in use") as err:
            open_socket("127.0.0.1", taken.getsockname()[1])
        assert "chronyd" in str(err.value)
    with pytest.raises(ServerError, match="no such address"):
        open_socket("192.0.2.1", 0)  # TEST-NET-1, not configured here; nothing is sent
    with pytest.raises(ServerError, match="not an IP address"):
        open_socket("localhost", 0)


def test_kernel_tx_timestamp_of_a_reply() -> None:
    from orchestrator.serve.udp import TX_TIMESTAMP_CMSG, read_tx_timestamp

    server = open_socket("127.0.0.1", 0)
    assert server.tx_timestamps
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        before = time.time_ns()
        server.sock.sendmsg([b"\x24" + bytes(47)], [TX_TIMESTAMP_CMSG], 0, client.getsockname())
        after = time.time_ns()
        tx = read_tx_timestamp(server.sock)
        assert tx is not None and before <= tx <= after
        assert read_tx_timestamp(server.sock) is None  # drained: the socket is not left readable
        client.settimeout(2)
        assert client.recv(64)[0] == 0x24
    server.close()


def test_tx_delay_is_a_robust_median() -> None:
    from orchestrator.serve.worker import TxDelay

    d = TxDelay(window=5)
    for ns in (10_000, 12_000, 11_000, 900_000, 9_000):  # one preemption outlier
        d.add(ns)
    assert d.estimate_ns == 11_000
    d.add(-5)  # a clock step between the reads: ignored
    d.add(5_000_000)  # longer than any real send: ignored
    assert d.estimate_ns == 11_000


def test_worker_learns_its_transmit_delay(start_server: StartServer, packet_loop: str) -> None:
    server = start_server()
    host, port = server.addresses[0]
    client = ntplib.NTPClient()
    for _ in range(20):
        client.request(host, port=port, version=4, timeout=2)
    worker = server.thread_worker
    assert worker is not None
    assert worker.tx_delay.estimate_ns > 0  # sampled from kernel TX timestamps
    if packet_loop == "python":
        assert worker._comp_ns == worker.tx_delay.estimate_ns  # and applied to T3
    else:  # the C loop measures it but does not add it (docs/performance.md)
        assert worker._comp_ns == 0


def test_a_bug_costs_one_packet_not_the_server(start_server: StartServer) -> None:
    server = start_server()
    worker = server.thread_worker
    assert worker is not None
    real = worker.core.handle
    calls = {"n": 0}

    def flaky(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected")
        return real(*args)  # type: ignore[arg-type]

    worker.core.handle = flaky  # type: ignore[method-assign]
    host, port = server.addresses[0]
    # mode 1 (symmetric active): the core decides on it in both packet loops
    request = P.client_request(T.from_unix_ns(time.time_ns()), mode=1).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(request, (host, port))
        with pytest.raises(TimeoutError):
            s.recv(1024)  # the injected failure: no answer
        s.sendto(request, (host, port))
        assert P.decode(s.recv(1024)).mode == 2  # the next one is answered
    client = ntplib.NTPClient()
    assert client.request(host, port=port, version=4, timeout=2).stratum == 10
    assert worker.internal_errors == 1 and calls["n"] >= 2


def test_a_second_server_on_a_taken_port_is_refused() -> None:
    # Both would set SO_REUSEPORT; without the exclusive probe the second one would
    # silently join the first one's group and answer half its clients.
    first = open_socket("127.0.0.1", 0)
    try:
        port = first.address[1]
        with pytest.raises(ServerError, match="already in use"):
            open_socket("127.0.0.1", port, exclusive=True)
        open_socket("127.0.0.1", port).close()  # a worker of the same server still joins
    finally:
        first.close()
    again = open_socket("127.0.0.1", port, exclusive=True)  # free again once closed
    again.close()


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_reply_on_the_wire_is_the_cores_reply(start_server: StartServer, version: int) -> None:
    # Whichever loop answered (the C one for these plain requests), the reply carries
    # what NtpServerCore.handle builds for the same request: every field but the
    # receive/transmit timestamps and the root dispersion, which grow with time.
    server = start_server()
    worker = server.thread_worker
    assert worker is not None
    for poll in (-3, 6, 17):
        request = P.client_request(T.from_unix_ns(time.time_ns()), version=version, poll=poll)
        wire = request.encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(wire, server.addresses[0])
            got = s.recv(1024)
        now = time.time_ns()
        core = NtpServerCore(worker.core.policy, worker.core.state)  # its own state
        want = core.handle("127.0.0.1", now, wire, lambda t=now: t, 0)
        assert isinstance(want, Respond)
        assert len(got) == len(want.data) == 48
        assert got[:8] == want.data[:8]  # LI, VN, mode, stratum, poll, precision, root delay
        assert got[12:32] == want.data[12:32]  # refid, reference time, origin
        disp_got, disp_want = (int.from_bytes(d[8:12], "big") for d in (got, want.data))
        assert abs(disp_got - disp_want) <= 2  # 15 ppm of a few ms, in 1/65536 s
