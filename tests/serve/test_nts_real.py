"""NTS with a real chronyd (Debian chrony 4.x, `chronyd -x`: never touches the clock).

The client does NTS-KE over TLS 1.3 with our server (certificate from `orch server
nts-cert`, trusted with `ntstrustedcerts`), then authenticated NTP. A small loopback UDP
proxy between chronyd and our NTP port flips bytes to show that the client rejects a
reply whose authenticator was tampered with, and that a tampered cookie gets an NTS NAK.
Loopback only; every loop is bounded in time.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.linux.chrony import nts_sources
from orchestrator.ntp import nts
from orchestrator.ntp.server import NTS_COUNTERS
from orchestrator.serve.clientlog_store import read_status
from orchestrator.serve.ntscert import write_self_signed
from orchestrator.serve.ntske import KE_COUNTERS

from .conftest import StartServer
from .realclients import FAST, ChronydClient, chrony_conf, needs_chrony, private_dir

AUTHDATA = re.compile(
    r"^(?P<name>\S+)\s+NTS\s+(?P<keyid>\d+)\s+(?P<type>\d+)\s+(?P<klen>\d+)\s+\S+\s+\d+\s+"
    r"(?P<nak>\d+)\s+(?P<cook>\d+)\s+(?P<clen>\d+)\s*$",
    re.M,
)


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    c, k = tmp_path / "nts.crt", tmp_path / "nts.key"
    write_self_signed(c, k, ["localhost", "127.0.0.1"])
    return c, k


def nts_server(start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return start_server(
        nts_cert=cert[0],
        nts_key=cert[1],
        nts_port=0,
        nts_keys_file=tmp_path / "nts-keys.json",
        **kw,
    )


def nts_client(tmp_path: Path, name: str, ke_port: int, cert: Path) -> ChronydClient:
    d = private_dir(tmp_path, name)
    conf = chrony_conf(
        d, [f"server 127.0.0.1 iburst nts ntsport {ke_port} {FAST}"], [f"ntstrustedcerts {cert}"]
    )
    return ChronydClient(d, conf)


def counters(server) -> dict[str, int]:  # type: ignore[no-untyped-def]
    time.sleep(0.5)  # two flushes of the workers and the NTS-KE thread (0.2 s here)
    stored = read_status(server.config.client_log_path).counters
    return {k: stored.get(k, 0) for k in (*NTS_COUNTERS, *KE_COUNTERS)}  # zeros are not stored


@needs_chrony
def test_chronyd_syncs_over_nts_with_a_256_bit_key(
    start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    server = nts_server(start_server, cert, tmp_path)
    (_, ke_port), = server.nts_addresses  # fmt: skip
    client = nts_client(tmp_path, "c", ke_port, cert[0])
    try:
        sources = client.wait_for("^*", "-n", "sources", timeout_s=30)
        assert "^* 127.0.0.1" in sources, sources
        authdata = client.chronyc("-N", "authdata")
        m = AUTHDATA.search(authdata)
        assert m, authdata
        assert (m["name"], m["type"], m["klen"], m["nak"]) == ("127.0.0.1", "15", "256", "0")
        assert int(m["cook"]) >= 1 and m["clen"] == "100"
        assert nts_sources(authdata) == ("127.0.0.1",)  # what orch verify reads from it
    finally:
        client.stop()
    c = counters(server)
    assert c["nts-ke-sessions"] == 1 and c["nts-ke-errors"] == 0
    assert c["nts-requests"] >= 4 and c["nts-auth-failures"] == 0
    assert c["nts-cookies"] >= 8 + c["nts-requests"]  # 8 from NTS-KE, >= 1 per reply
    status = read_status(server.config.client_log_path)
    assert [e.address for e in status.clients] == ["127.0.0.1"]


# ---------------------------------------------------------------------- tampering


class FlipProxy:
    """UDP proxy 127.0.0.1:<port> -> our NTP port, optionally flipping one octet."""

    def __init__(self, request: Callable[[bytes], bytes], reply: Callable[[bytes], bytes]) -> None:
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = self.front.getsockname()[1]
        self.request, self.reply = request, reply
        self.forwarded = [0, 0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, target: tuple[str, int]) -> None:
        self.back.connect(target)
        self._thread.start()

    def _run(self) -> None:
        client: tuple[str, int] | None = None
        with selectors.DefaultSelector() as sel:
            sel.register(self.front, selectors.EVENT_READ)
            sel.register(self.back, selectors.EVENT_READ)
            deadline = time.monotonic() + 120  # bounded whatever the test does
            while not self._stop.is_set() and time.monotonic() < deadline:
                for key, _ in sel.select(0.1):
                    if key.fileobj is self.front:
                        data, client = self.front.recvfrom(2048)
                        self.back.send(self.request(data))
                        self.forwarded[0] += 1
                    elif client is not None:
                        self.front.sendto(self.reply(self.back.recv(2048)), client)
                        self.forwarded[1] += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.front.close()
        self.back.close()


def _flip_in(ftype: int, offset: int) -> Callable[[bytes], bytes]:
    """Flip one bit `offset` octets into the body of the first field of `ftype`."""

    def flip(data: bytes) -> bytes:
        try:
            for f in nts.fields(data, 48):
                if f.ftype == ftype:
                    b = bytearray(data)
                    b[f.start + 4 + offset] ^= 0x10
                    return bytes(b)
        except nts.NtsError:
            pass
        return data

    return flip


def _same(data: bytes) -> bytes:
    return data


@pytest.fixture
def proxied(
    start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path
) -> Iterator[Callable[..., tuple[object, ChronydClient, FlipProxy]]]:
    made: list[tuple[ChronydClient, FlipProxy]] = []

    def make(request: Callable[[bytes], bytes], reply: Callable[[bytes], bytes]):  # type: ignore[no-untyped-def]
        proxy = FlipProxy(request, reply)
        # NTS-KE tells the client to send NTP to the proxy (the NTPv4 Port record)
        server = nts_server(start_server, cert, tmp_path, nts_ntp_port=proxy.port)
        proxy.start(server.addresses[0])
        (_, ke_port), = server.nts_addresses  # fmt: skip
        client = nts_client(tmp_path, f"c{len(made)}", ke_port, cert[0])
        made.append((client, proxy))
        return server, client, proxy

    yield make
    for client, proxy in made:
        client.stop()
        proxy.close()


@needs_chrony
def test_untampered_proxy_syncs(proxied) -> None:  # type: ignore[no-untyped-def]
    _server, client, proxy = proxied(_same, _same)
    assert "^*" in client.wait_for("^*", "-n", "sources", timeout_s=30)
    assert proxy.forwarded[1] >= 4


@needs_chrony
@pytest.mark.parametrize("where", ["reply-authenticator", "request-cookie"])
def test_tampered_nts_is_rejected(proxied, where: str) -> None:  # type: ignore[no-untyped-def]
    if where == "reply-authenticator":  # first ciphertext octet (after lengths and nonce)
        server, client, proxy = proxied(_same, _flip_in(nts.AUTHENTICATOR, 4 + 16))
    else:  # an octet of the cookie's encrypted part
        server, client, proxy = proxied(_flip_in(nts.COOKIE, 40), _same)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        sources = client.chronyc("-n", "sources")
        assert "^*" not in sources and "^+" not in sources, sources
        time.sleep(0.5)
    line = next(x for x in sources.splitlines() if "127.0.0.1" in x)
    assert line.split()[4] == "0", sources  # Reach: not one reply accepted
    c = counters(server)
    if where == "reply-authenticator":
        assert proxy.forwarded[1] >= 3  # replies did reach the client, and were refused
        assert c["nts-requests"] >= 3 and c["nts-auth-failures"] == 0
    else:  # after an NTS NAK chronyd goes back to NTS-KE, with a back-off
        assert proxy.forwarded[1] >= 1
        assert c["nts-auth-failures"] >= 1 and c["nts-requests"] == 0
        m = AUTHDATA.search(client.chronyc("-N", "authdata"))
        assert m and int(m["nak"]) >= 1  # the client saw our NTS NAKs


# ---------------------------------------------------------------------- rotation


@needs_chrony
def test_key_rotation_keeps_the_client_in_sync(
    start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    server = nts_server(start_server, cert, tmp_path, nts_rotate_s=1.5, nts_keep_keys=2)
    (_, ke_port), = server.nts_addresses  # fmt: skip
    keys_file = tmp_path / "nts-keys.json"
    first = {k["id"] for k in json.loads(keys_file.read_text())["keys"]}
    assert keys_file.stat().st_mode & 0o077 == 0  # master keys: owner only
    client = nts_client(tmp_path, "c", ke_port, cert[0])
    try:
        assert "^*" in client.wait_for("^*", "-n", "sources", timeout_s=30)
        deadline = time.monotonic() + 9  # six rotations: every key in use at the start is gone
        while time.monotonic() < deadline:
            sources = client.chronyc("-n", "sources")
            assert "^* 127.0.0.1" in sources, sources
            time.sleep(0.5)
        m = AUTHDATA.search(client.chronyc("-N", "authdata"))
        assert m and m["nak"] == "0", m
    finally:
        client.stop()
    now = {k["id"] for k in json.loads(keys_file.read_text())["keys"]}
    assert not first & now  # rotated all the way
    c = counters(server)
    assert c["nts-ke-sessions"] == 1  # cookies carried the client over every rotation
    assert c["nts-auth-failures"] == 0
