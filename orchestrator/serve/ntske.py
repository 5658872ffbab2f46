"""The NTS-KE server (RFC 8915 §4): TLS 1.3 on TCP 4460, ALPN "ntske/1".

Python's `ssl` module (3.11) cannot export keying material (RFC 5705 / RFC 8446 §7.5),
which NTS needs for the C2S and S2C keys, so the TLS side is pyOpenSSL
(`Connection.export_keying_material`, over the OpenSSL that `cryptography` ships).
The records, the negotiation and the cookies are the pure code of
`orchestrator.ntp.nts_ke` and `orchestrator.ntp.nts_cookie`.

One accept thread per server, one short-lived thread per session (at most
`max_connections` at a time, each with a deadline, like chrony's `maxntsconnections`
and its 2 s session timeout); sessions per address are rate limited like chrony's
`ntsratelimit` (off with the server's rate limiting, e.g. `--no-ratelimit`). The accept
thread also rotates the master keys when due, saves them (0600, so a restart keeps the
clients' cookies valid, like chrony's `ntsdumpdir`), hands each new ring to `publish`
(the runner sends it to the NTP workers) and adds its counters to the client log store.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple, TypeVar

from OpenSSL import SSL

from orchestrator.errors import ConfigError, ServerError
from orchestrator.ntp import nts_ke
from orchestrator.ntp.access import AccessControl
from orchestrator.ntp.nts_cookie import KEY_LEN, NONCE_LEN, CookieJar, KeyRing
from orchestrator.ntp.ratelimit import RateDecision, RateLimitConfig, RateLimiter
from orchestrator.serve.clientlog_store import ClientLogStore

log = logging.getLogger(__name__)

_T = TypeVar("_T")
# chrony's `ntsratelimit` defaults: on average one session per 64 s per address, bursts of 8
KE_RATELIMIT = RateLimitConfig(interval=6, burst=8, leak=2, kod=False)
KE_COUNTERS = ("nts-ke-sessions", "nts-ke-errors", "nts-ke-refused", "nts-cookies")


def tls_context(cert: Path, key: Path) -> SSL.Context:
    """A TLS 1.3-only server context with the certificate chain and key; ConfigError
    naming the file when one does not load."""
    for what, path in (("--nts-cert", cert), ("--nts-key", key)):
        if not path.is_file():
            raise ConfigError(f"{what} {path}: no such file", hint="see orch server nts-cert")
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_options(SSL.OP_NO_TICKET)  # nothing to resume: one request per session
    try:
        ctx.use_certificate_chain_file(str(cert))
    except SSL.Error:
        raise ConfigError(f"{cert}: not a PEM certificate (chain)") from None
    try:
        ctx.use_privatekey_file(str(key))
        ctx.check_privatekey()
    except SSL.Error:
        raise ConfigError(f"{key}: not the PEM private key of {cert}") from None
    ctx.set_alpn_select_callback(_select_alpn)
    return ctx


def _select_alpn(_conn: SSL.Connection, offered: list[bytes]) -> bytes:
    # No "ntske/1" offered: fail the handshake (no_application_protocol alert).
    return nts_ke.ALPN if nts_ke.ALPN in offered else SSL.NO_OVERLAPPING_PROTOCOLS  # type: ignore[return-value]


def load_key_ring(path: Path | None, now: float, rotate_s: float, keep: int) -> KeyRing:
    """The saved master keys if `path` holds a valid key file, else new ones (saved)."""
    if path is not None and path.exists():
        try:
            ring = KeyRing.from_dict(json.loads(path.read_text()), rotate_s, keep)
            log.info("NTS master keys loaded from %s", path)
            return ring
        except (OSError, ValueError) as exc:  # ValueError includes bad JSON
            log.warning("%s: NTS master keys not loaded (%s); new keys made", path, exc)
    ring = KeyRing.new(now, os.urandom, rotate_s, keep)
    save_key_ring(path, ring)
    return ring


def save_key_ring(path: Path | None, ring: KeyRing) -> None:
    """Write the keys readable by the owner only (temp file + rename); a failure is logged."""
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(ring.to_dict(), f)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("NTS master keys not saved to %s: %s", path, exc.strerror)


class _Timeout(Exception):
    pass


class NtsKeServer:
    """Accepts NTS-KE sessions; owns the master key ring (see the module docstring)."""

    def __init__(
        self,
        context: SSL.Context,
        ring: KeyRing,
        *,
        access: AccessControl,
        ntp_port: int,
        publish: Callable[[KeyRing], None] = lambda ring: None,
        keys_file: Path | None = None,
        store_path: Path | None = None,
        flush_interval_s: float = 2.0,
        max_connections: int = 100,
        timeout_s: float = 3.0,
        ratelimit: RateLimitConfig | None = KE_RATELIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.context = context
        self.ring = ring
        self.jar = CookieJar(ring)
        self.access = access
        self.ntp_port = ntp_port
        self.publish = publish
        self.keys_file = keys_file
        self.store_path = store_path
        self.flush_interval_s = flush_interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_connections)
        self.limiter = RateLimiter(ratelimit) if ratelimit is not None else None
        self._lock = threading.Lock()
        self.counters: dict[str, int] = dict.fromkeys(KE_COUNTERS, 0)
        self._flushed: dict[str, int] = {}
        self._socks: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.addresses: list[tuple[str, int]] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self, hosts: tuple[str, ...], port: int) -> list[tuple[str, int]]:
        try:
            for host in hosts:
                sock = _listen(host, port)
                self._socks.append(sock)
                self.addresses.append((host, sock.getsockname()[1]))
        except ServerError:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._accept_loop, name="nts-ke", daemon=True)
        self._thread.start()
        return self.addresses

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        for s in self._socks:
            s.close()
        self._socks = []

    def rotate(self, now: float) -> None:
        """Rotate the master keys now: save, use, and publish the new ring."""
        ring = self.ring.rotated(now, os.urandom)
        save_key_ring(self.keys_file, ring)
        self.publish(ring)  # the workers learn the ring before the next key issues
        self.ring = ring
        self.jar.set_ring(ring)
        log.info("NTS master keys rotated")

    # ------------------------------------------------------------------ internals

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def _accept_loop(self) -> None:
        store = ClientLogStore(self.store_path) if self.store_path is not None else None
        sel = selectors.DefaultSelector()
        for s in self._socks:
            sel.register(s, selectors.EVENT_READ)
        next_flush = time.monotonic() + self.flush_interval_s
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                if self.ring.due(self.clock()):
                    try:
                        self.rotate(self.clock())
                    except Exception:  # never stop serving over a rotation
                        log.exception("NTS master key rotation failed")
                if store is not None and time.monotonic() >= next_flush:
                    self._flush(store)
                    next_flush = time.monotonic() + self.flush_interval_s
        finally:
            sel.close()
            if store is not None:
                self._flush(store)
                store.close()

    def _flush(self, store: ClientLogStore) -> None:
        with self._lock:
            counters = dict(self.counters)
        delta = {k: v - self._flushed.get(k, 0) for k, v in counters.items()}
        try:
            store.add([], delta)
        except Exception as exc:
            log.warning("NTS-KE counters not written to %s: %s", self.store_path, exc)
            return
        self._flushed = counters

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, addr = listener.accept()
        except OSError:
            return
        host = addr[0][7:] if addr[0].startswith("::ffff:") else addr[0]
        limited = self.limiter is not None and self.limiter.check(
            host, time.monotonic(), random.getrandbits(8)
        ) in (RateDecision.DROP, RateDecision.KOD)
        if limited or not self.access.permits(host) or not self._slots.acquire(blocking=False):
            self._count("nts-ke-refused")
            sock.close()
            return
        t = threading.Thread(target=self._session, args=(sock, host), daemon=True)
        t.start()

    def _session(self, sock: socket.socket, host: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        try:
            sock.setblocking(False)
            conn = SSL.Connection(self.context, sock)
            conn.set_accept_state()
            self._io(conn.do_handshake, sock, deadline)
            if conn.get_alpn_proto_negotiated() != nts_ke.ALPN:
                raise SSL.Error("no ALPN ntske/1")
            data = b""
            while True:
                try:
                    records = nts_ke.read_message(data)
                except nts_ke.KeError:
                    records = None
                    negotiation = nts_ke.Negotiation(error=nts_ke.ERR_BAD_REQUEST)
                    break
                if records is not None:
                    negotiation = nts_ke.negotiate(records)
                    break
                chunk = self._io(partial(conn.recv, 4096), sock, deadline)
                if not chunk:
                    raise SSL.Error("connection closed before End of Message")
                data += chunk
            cookies: list[bytes] = []
            if negotiation.ok:
                assert negotiation.protocol is not None and negotiation.aead is not None
                keys = [
                    conn.export_keying_material(
                        nts_ke.EXPORTER_LABEL,
                        KEY_LEN,
                        nts_ke.exporter_context(negotiation.protocol, negotiation.aead, s2c),
                    )
                    for s2c in (False, True)
                ]
                jar = self.jar
                cookies = [
                    jar.make(keys[0], keys[1], os.urandom(NONCE_LEN))
                    for _ in range(nts_ke.COOKIES_PER_SESSION)
                ]
            out = nts_ke.response(negotiation, cookies, ntp_port=self.ntp_port)
            while out:
                sent = self._io(partial(conn.send, out), sock, deadline)
                out = out[sent:]
            with contextlib.suppress(SSL.Error, OSError):
                conn.shutdown()
            if negotiation.ok:
                self._count("nts-ke-sessions")
                self._count("nts-cookies", len(cookies))
            else:
                self._count("nts-ke-errors")
                log.info("NTS-KE from %s refused: %s", host, negotiation)
        except (SSL.Error, OSError, _Timeout) as exc:
            self._count("nts-ke-errors")
            log.info("NTS-KE session with %s failed: %s", host, type(exc).__name__)
        except Exception:  # a bug must cost one session, never the server
            self._count("nts-ke-errors")
            log.exception("NTS-KE session with %s failed", host)
        finally:
            sock.close()
            self._slots.release()

    @staticmethod
    def _io(op: Callable[[], _T], sock: socket.socket, deadline: float) -> _T:
        """Run a non-blocking TLS operation to completion before `deadline`."""
        while True:
            try:
                return op()
            except SSL.WantReadError:
                events = selectors.EVENT_READ
            except SSL.WantWriteError:
                events = selectors.EVENT_WRITE
            except SSL.ZeroReturnError:
                return b""  # type: ignore[return-value]  # clean TLS close: EOF
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            with selectors.DefaultSelector() as sel:
                sel.register(sock, events)
                if not sel.select(left):
                    raise _Timeout


def _listen(host: str, port: int) -> socket.socket:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ServerError(f"--listen {host!r} is not an IP address") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ServerError(
            f"cannot listen for NTS-KE on TCP {where}: {exc.strerror}",
            hint="pick another --nts-port, or run as root for ports below 1024",
        ) from None
    sock.setblocking(False)
    return sock


# ---------------------------------------------------------------------- client side


def _check_name(conn: SSL.Connection, name: str) -> None:
    """The verified chain's leaf must name `name` (pyOpenSSL checks the chain only)."""
    from cryptography import x509

    peer = conn.get_peer_certificate(as_cryptography=True)
    if peer is None:
        raise SSL.Error("no server certificate")
    try:
        sans = peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise SSL.Error("server certificate has no subject alternative names") from None
    try:
        ok = ipaddress.ip_address(name) in sans.get_values_for_type(x509.IPAddress)
    except ValueError:
        ok = name.lower() in (n.lower() for n in sans.get_values_for_type(x509.DNSName))
    if not ok:
        raise SSL.Error(f"server certificate does not name {name}")


class KeResult(NamedTuple):
    """What an NTS-KE client takes home: the session keys, cookies, where to send NTP."""

    c2s: bytes
    s2c: bytes
    cookies: list[bytes]
    ntp_port: int


def ke_client(
    host: str, port: int, cafile: Path, server_name: str | None = None, timeout_s: float = 5.0
) -> KeResult:
    """One NTS-KE session as a client (the benchmark, tests, checks of a deployment).
    ServerError when the server refuses or the answer is not a successful negotiation."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.load_verify_locations(str(cafile))
    ctx.set_verify(SSL.VERIFY_PEER)
    ctx.set_alpn_protos([nts_ke.ALPN])
    deadline = time.monotonic() + timeout_s
    name = server_name or host
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.setblocking(False)
        conn = SSL.Connection(ctx, sock)
        conn.set_connect_state()
        conn.set_tlsext_host_name(name.encode("idna"))
        try:
            NtsKeServer._io(conn.do_handshake, sock, deadline)
            _check_name(conn, name)
            out = nts_ke.request()
            while out:
                out = out[NtsKeServer._io(partial(conn.send, out), sock, deadline) :]
            data = b""
            records = None
            while records is None:
                chunk = NtsKeServer._io(partial(conn.recv, 4096), sock, deadline)
                if not chunk:
                    raise ServerError(f"NTS-KE {host}:{port}: closed before End of Message")
                data += chunk
                records = nts_ke.read_message(data)
            keys = [
                conn.export_keying_material(
                    nts_ke.EXPORTER_LABEL, KEY_LEN, nts_ke.exporter_context(0, 15, s2c)
                )
                for s2c in (False, True)
            ]
        except (SSL.Error, OSError, _Timeout, nts_ke.KeError) as exc:
            raise ServerError(f"NTS-KE {host}:{port} failed: {exc!r}") from None
    got = {r.rtype: r.body for r in records if r.rtype != nts_ke.NEW_COOKIE}
    cookies = [r.body for r in records if r.rtype == nts_ke.NEW_COOKIE]
    if nts_ke.ERROR in got or got.get(nts_ke.AEAD_ALGORITHM) != b"\x00\x0f" or not cookies:
        raise ServerError(f"NTS-KE {host}:{port}: no NTS session ({records})")
    ntp_port = int.from_bytes(got.get(nts_ke.NTPV4_PORT, b"\x00\x7b"), "big")
    return KeResult(keys[0], keys[1], cookies, ntp_port)
