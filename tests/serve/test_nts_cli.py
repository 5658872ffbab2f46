"""`orch server nts-cert` and `orch server run --nts-cert/--nts-key` as a user runs them,
with an NTS-KE client and NTS-authenticated NTP in Python (no root needed); what TLS
settings the NTS-KE server refuses; the config file keys; `orch server status` counters."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.errors import ServerError
from orchestrator.ntp import nts
from orchestrator.ntp import packet as P
from orchestrator.serve.config import load_config_file
from orchestrator.serve.ntske import ke_client

from .conftest import StartServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    c, k = tmp_path / "nts.crt", tmp_path / "nts.key"
    assert run(["server", "nts-cert", "--cert", str(c), "--key", str(k),
                "--name", "localhost", "--name", "127.0.0.1"]) == 0  # fmt: skip
    return c, k


def test_nts_cert_writes_a_private_key_and_refuses_to_overwrite(
    cert: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography import x509

    c, k = cert
    assert k.stat().st_mode & 0o777 == 0o600
    crt = x509.load_pem_x509_certificate(c.read_bytes())
    sans = crt.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    capsys.readouterr()
    assert run(["server", "nts-cert", "--cert", str(c), "--key", str(k), "--name", "x"]) == 2
    assert "already exists" in capsys.readouterr().err


def _nts_exchange(host: str, port: int, c2s: bytes, s2c: bytes, cookie: bytes) -> list[bytes]:
    """One NTS-authenticated NTP exchange; the fresh cookies of the verified reply."""
    uid = os.urandom(32)
    req = nts.client_request(
        P.client_request(0xE1234).encode(), uid, cookie, c2s, os.urandom(16), 1
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(req, (host, port))
        reply = s.recv(2048)
    assert len(reply) == len(req)
    assert P.decode(reply).origin_ts == 0xE1234
    cookies = nts.client_open_reply(reply, uid, s2c)
    assert cookies is not None, reply.hex()
    return cookies


def test_server_run_with_nts_end_to_end(cert: tuple[Path, Path], tmp_path: Path) -> None:
    log = tmp_path / "clients.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "server", "run", "--listen", "127.0.0.1",
         "--port", "0", "--reference", "local", "--workers", "2", "--client-log", str(log),
         "--nts-cert", str(cert[0]), "--nts-key", str(cert[1]), "--nts-port", "0"],
        stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "ORCH_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first, second = proc.stderr.readline(), proc.stderr.readline()
        ntp_port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", first).group(1))  # type: ignore[union-attr]
        m = re.search(r"NTS-KE \(TLS 1\.3, ntske/1\) on TCP 127\.0\.0\.1:(\d+)", second)
        assert m, second
        ke_port = int(m.group(1))
        ke = ke_client("127.0.0.1", ke_port, cert[0])
        assert ke.ntp_port == ntp_port and len(ke.cookies) == 8
        assert len(ke.c2s) == len(ke.s2c) == 32 and ke.c2s != ke.s2c
        cookies = _nts_exchange("127.0.0.1", ntp_port, ke.c2s, ke.s2c, ke.cookies[0])
        assert len(cookies) == 2  # the cookie and one placeholder
        _nts_exchange("127.0.0.1", ntp_port, ke.c2s, ke.s2c, cookies[1])  # a fresh one works
        # by name too, and a name the certificate does not carry is refused
        assert ke_client("127.0.0.1", ke_port, cert[0], server_name="localhost").cookies
        with pytest.raises(ServerError, match="does not name"):
            ke_client("127.0.0.1", ke_port, cert[0], server_name="ntp.example.org")
        _refused_tls(ke_port, cert[0])
        keys_file = tmp_path / "data" / "nts-keys.json"
        assert keys_file.stat().st_mode & 0o077 == 0 and "keys" in json.loads(keys_file.read_text())
        time.sleep(2.5)  # workers and the NTS-KE thread flush every 2 s
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
    out = subprocess.run(
        [sys.executable, "-m", "orchestrator", "server", "status", "--client-log", str(log)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # the server has stopped: exit 1, counters kept
    out = out.stdout
    m = re.search(
        r"NTS-KE on 127\.0\.0\.1:\d+: (\d+) sessions \((\d+) failed\); (\d+) NTS "
        r"requests, (\d+) cookies issued, (\d+) authentication failures",
        out,
    )
    assert m, out
    sessions, failed, requests, cookies_issued, failures = map(int, m.groups())
    assert (sessions, requests, cookies_issued, failures) == (2, 2, 2 * 8 + 2 + 2, 0)
    assert failed >= 3  # the refused TLS 1.2, no-ALPN and wrong-name sessions
    row = next(x for x in out.splitlines() if x.split()[:1] == ["127.0.0.1"]).split()
    assert row[-1] == "2"  # the NTS column: both requests were NTS


def _refused_tls(port: int, cafile: Path) -> None:
    """TLS 1.2, or TLS 1.3 without ALPN ntske/1: no NTS-KE answer, only a failed
    handshake or a closed connection."""
    for tls12, alpn in ((True, True), (False, False)):
        ctx = ssl.create_default_context(cafile=str(cafile))
        ctx.check_hostname = False
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if alpn:
            ctx.set_alpn_protocols(["ntske/1"])
        answer = b""
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
            try:
                with ctx.wrap_socket(raw) as tls:
                    tls.sendall(bytes.fromhex("80010002000080040002000f80000000"))
                    answer = tls.recv(100)
            except (ssl.SSLError, ConnectionResetError) as exc:
                assert not tls12 or "version" in str(exc).lower(), exc
        assert answer == b"", (tls12, alpn)


def test_bad_nts_files_are_one_line_errors(
    cert: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["server", "run", "--listen", "127.0.0.1", "--port", "0", "--reference", "local",
              "--client-log", str(tmp_path / "c.sqlite")]  # fmt: skip
    cases = [
        (["--nts-cert", str(tmp_path / "missing.crt"), "--nts-key", str(cert[1])], "no such file"),
        (["--nts-cert", str(cert[1]), "--nts-key", str(cert[1])], "not a PEM certificate"),
        (["--nts-cert", str(cert[0]), "--nts-key", str(cert[0])], "not the PEM private key"),
        (["--nts-cert", str(cert[0])], "needs both --nts-cert and --nts-key"),
    ]
    key_text = cert[1].read_text()
    for extra, message in cases:
        capsys.readouterr()
        assert run([*common, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert key_text.splitlines()[1] not in err  # never a line of the key


def test_config_file_nts_keys(tmp_path: Path) -> None:
    conf = tmp_path / "server.toml"
    conf.write_text('nts_cert = "nts.crt"\nnts_key = "/etc/orch/nts.key"\nnts_port = 4461\n'
                    "nts_rotate = 3600\n")  # fmt: skip
    cfg = load_config_file(conf)
    assert cfg.nts and cfg.nts_cert == tmp_path / "nts.crt"
    assert cfg.nts_key == Path("/etc/orch/nts.key")
    assert (cfg.nts_port, cfg.nts_rotate_s) == (4461, 3600)


def test_nts_off_the_runner_opens_no_tcp_port(start_server: StartServer) -> None:
    server = start_server()
    assert server.ntske is None and server.nts_addresses == []
    assert server.policy is not None and server.policy.nts_keys is None


def test_master_keys_survive_a_restart_and_a_broken_file_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from orchestrator.serve.ntske import load_key_ring

    path = tmp_path / "keys" / "nts-keys.json"
    first = load_key_ring(path, 1000.0, 3600, 2)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key_ring(path, 2000.0, 3600, 2) == first  # a restart keeps the cookies valid
    path.write_text("{not json")
    with caplog.at_level("WARNING"):
        fresh = load_key_ring(path, 3000.0, 3600, 2)
    assert fresh != first and "new keys made" in caplog.text
    assert first.keys[0].key.hex() not in caplog.text  # never key material in the log


def _nts_on(start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return start_server(nts_cert=cert[0], nts_key=cert[1], nts_port=0,
                        nts_keys_file=tmp_path / "nts-keys.json", **kw)  # fmt: skip


def test_nts_ke_sessions_are_rate_limited_per_address(
    start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    from orchestrator.ntp.ratelimit import RateLimitConfig

    server = _nts_on(start_server, cert, tmp_path, ratelimit=RateLimitConfig())
    ((_, ke_port),) = server.nts_addresses
    for _ in range(8):  # a burst of 8, as chrony's ntsratelimit allows
        assert ke_client("127.0.0.1", ke_port, cert[0]).cookies
    refused = 0
    for _ in range(8):  # then about 3 in 4 are refused (1 in 4 leaks through)
        try:
            ke_client("127.0.0.1", ke_port, cert[0], timeout_s=2)
        except ServerError:
            refused += 1
    assert refused >= 1
    assert server.ntske is not None and server.ntske.counters["nts-ke-refused"] == refused


def test_rotation_reaches_every_worker_process(
    start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two forked workers: keys rotate every 0.5 s, a client keeps using the fresh cookies
    from many source ports (spread over both workers) and every reply verifies."""
    server = _nts_on(start_server, cert, tmp_path, workers=2, nts_rotate_s=0.5)
    ((_, port),) = server.addresses
    ((_, ke_port),) = server.nts_addresses
    ke = ke_client("127.0.0.1", ke_port, cert[0])
    cookies = list(ke.cookies)
    first_ring = server.ntske.ring if server.ntske is not None else None
    deadline = time.monotonic() + 3.0  # six rotations
    exchanges = 0
    while time.monotonic() < deadline:
        cookies += _nts_exchange("127.0.0.1", port, ke.c2s, ke.s2c, cookies.pop(0))
        cookies = cookies[-8:]  # like chronyd: the 8 newest cookies, oldest used first
        exchanges += 1
        time.sleep(0.02)
    assert server.ntske is not None and first_ring is not None
    assert not {k.key_id for k in first_ring.keys} & {k.key_id for k in server.ntske.ring.keys}
    assert exchanges >= 20


@pytest.mark.skipif(
    not socket.has_ipv6 or not Path("/proc/net/if_inet6").exists(), reason="no IPv6"
)
def test_nts_over_ipv6_loopback(start_server: StartServer, tmp_path: Path) -> None:
    c, k = tmp_path / "v6.crt", tmp_path / "v6.key"
    assert run(["server", "nts-cert", "--cert", str(c), "--key", str(k), "--name", "::1"]) == 0
    server = _nts_on(start_server, (c, k), tmp_path, listen=("::1",))
    ((_, port),) = server.addresses
    ((_, ke_port),) = server.nts_addresses
    ke = ke_client("::1", ke_port, c)
    assert ke.ntp_port == port
    uid = os.urandom(32)
    req = nts.client_request(P.client_request(7).encode(), uid, ke.cookies[0], ke.c2s, bytes(16))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(req, ("::1", port))
        reply = s.recv(2048)
    assert nts.client_open_reply(reply, uid, ke.s2c) is not None
