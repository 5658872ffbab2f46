"""The SSH connection itself: which algorithms, which authentication, how it closes.

* AES-GCM first: no separate MAC, whose per-packet check paramiko does in pure Python.
* Modern algorithms only by default. A host opts in to the legacy ones old IOS 12.x/15.x,
  CatOS and NX-OS need (`data.ssh.legacy_algorithms: true`): the SHA-1 key exchanges
  `diffie-hellman-group14-sha1`, `diffie-hellman-group-exchange-sha1`,
  `diffie-hellman-group1-sha1`, `ssh-rsa` host keys and CBC ciphers. paramiko 5 dropped
  the first four; they are defined here on paramiko's own SHA-256 classes (same groups and
  messages, SHA-1 as the exchange hash), the way paramiko 3/4 had them.
* The algorithms a device offered are kept, so that a failed negotiation says what the
  device offered and what to set (devices/quirks: netmiko#3892, mscdex/ssh2#1064).
* Keyboard-interactive login (TACACS/RADIUS-backed devices, Netshot#400) answers the
  single password prompt with the host's password: paramiko's fallback of auth_password.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from hashlib import sha1
from typing import Any, ClassVar

import paramiko
from cryptography.hazmat.primitives import hashes
from paramiko.kex_gex import KexGexSHA256
from paramiko.kex_group14 import KexGroup14SHA256

from orchestrator.drivers.transport.errors import device_errors
from orchestrator.drivers.transport.hostkeys import HostKeyPolicy
from orchestrator.models import Host

CBC_CIPHERS = ("aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc")


class KexGroup14SHA1(KexGroup14SHA256):
    name = "diffie-hellman-group14-sha1"
    hash_algo = sha1


class KexGroup1SHA1(KexGroup14SHA256):
    # RFC 2409 6.2, the 1024-bit MODP group ("Oakley group 2")
    P = int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
        "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
        "F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381"
        "FFFFFFFFFFFFFFFF",
        16,
    )
    name = "diffie-hellman-group1-sha1"
    hash_algo = sha1


class KexGexSHA1(KexGexSHA256):
    name = "diffie-hellman-group-exchange-sha1"
    min_bits = 1024
    hash_algo = sha1


class SshRsaKey(paramiko.RSAKey):
    """An RSA host key that also verifies `ssh-rsa` (SHA-1) signatures."""


SshRsaKey.HASHES = {**paramiko.RSAKey.HASHES, "ssh-rsa": hashes.SHA1}  # type: ignore[misc]
# paramiko's algorithm tables are private attributes its type stubs do not declare
_BASE: Any = paramiko.Transport


LEGACY_KEX = {
    "diffie-hellman-group14-sha1": KexGroup14SHA1,
    "diffie-hellman-group-exchange-sha1": KexGexSHA1,
    "diffie-hellman-group1-sha1": KexGroup1SHA1,
}


class OrchTransport(paramiko.Transport):
    """paramiko with AES-GCM preferred, no CBC, and the peer's offer remembered.

    When `password` is not allowed but keyboard-interactive is, the password answers
    the single prompt in the same `ssh-userauth` service: paramiko's own fallback asks
    for the service again, which strict servers answer by disconnecting (and its
    service-requesting transport loses the answer now and then)."""

    _preferred_ciphers: ClassVar[tuple[str, ...]] = (
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        *(c for c in _BASE._preferred_ciphers if "gcm" not in c and c not in CBC_CIPHERS),
    )
    peer_offer: dict[str, tuple[str, ...]] | None = None
    agreed_kex = ""

    def auth_password(
        self,
        username: str,
        password: str,
        event: threading.Event | None = None,
        fallback: bool = True,
    ) -> list[str]:
        try:
            return list(super().auth_password(username, password, event, fallback=False))
        except paramiko.BadAuthenticationType as exc:
            if not fallback or "keyboard-interactive" not in exc.allowed_types:
                raise
            return self._interactive_in_same_service(username, password)

    def _interactive_in_same_service(self, username: str, password: str) -> list[str]:
        def answer(title: str, instructions: str, fields: list[tuple[str, bool]]) -> list[str]:
            return [password] if len(fields) == 1 else []

        handler: Any = self.auth_handler  # the one whose `password` request was refused
        done = threading.Event()
        with self.lock:
            handler.auth_event = done
            handler.auth_method = "keyboard-interactive"
            handler.username = username
            handler.interactive_handler = answer
            handler.submethods = ""
            accepted = paramiko.Message()
            accepted.add_string("ssh-userauth")
            accepted.rewind()
            handler._parse_service_accept(accepted)  # sends the request in this service
        return list(handler.wait_for_response(done))

    def _parse_kex_init(self, m: paramiko.Message) -> None:
        with contextlib.suppress(Exception):
            parse: Any = getattr(self, "_really_parse_kex_init")  # noqa: B009
            offer = parse(paramiko.Message(m.asbytes()))
            self.peer_offer = {
                "key exchange": tuple(offer["kex_algo_list"]),
                "host keys": tuple(offer["server_key_algo_list"]),
                "ciphers": tuple(offer["server_encrypt_algo_list"]),
                "MACs": tuple(offer["server_mac_algo_list"]),
            }
        getattr(super(), "_parse_kex_init")(m)  # noqa: B009
        self.agreed_kex = str(getattr(self.kex_engine, "name", ""))


class LegacyTransport(OrchTransport):
    """Also the SHA-1 key exchanges, `ssh-rsa` host keys and CBC ciphers (opt-in)."""

    _preferred_ciphers: ClassVar[tuple[str, ...]] = (
        *OrchTransport._preferred_ciphers,
        *CBC_CIPHERS,
    )
    _preferred_kex: ClassVar[tuple[str, ...]] = (*_BASE._preferred_kex, *LEGACY_KEX)
    _preferred_keys: ClassVar[tuple[str, ...]] = (*_BASE._preferred_keys, "ssh-rsa")
    _kex_info: ClassVar[dict[str, Any]] = {**_BASE._kex_info, **LEGACY_KEX}
    _key_info: ClassVar[dict[str, Any]] = {**_BASE._key_info, "ssh-rsa": SshRsaKey}


def legacy_algorithms(host: Host) -> bool:
    return host.ssh_legacy_algorithms


class Client(paramiko.SSHClient):
    """An SSHClient on our transport (legacy algorithms when the host opted in)."""

    def __init__(self, legacy: bool = False) -> None:
        super().__init__()
        self.legacy = legacy

    def connect(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("transport_factory", LegacyTransport if self.legacy else OrchTransport)
        super().connect(*args, **kwargs)

    def offer(self) -> dict[str, tuple[str, ...]] | None:
        transport = self.get_transport()
        return getattr(transport, "peer_offer", None)


def connect(host: Host, policy: HostKeyPolicy, timeout_s: float) -> Client:
    """An authenticated SSH connection to `host`; raises ConnectionFailure."""
    client = Client(legacy=legacy_algorithms(host))
    client.set_missing_host_key_policy(policy)
    try:
        with device_errors(host, "connect", policy, offer=client.offer, legacy=client.legacy):
            client.connect(
                host.hostname,
                port=host.port,
                username=host.username,
                password=host.password.reveal() if host.password else None,
                key_filename=host.ssh_key_file,
                timeout=timeout_s,
                auth_timeout=timeout_s,
                banner_timeout=timeout_s,
                look_for_keys=False,
                allow_agent=False,
            )
    except BaseException:
        close(client)
        raise
    return client


def stop_reader(transport: paramiko.Transport | None) -> None:
    """End paramiko's reader thread before its socket descriptor is released.

    Transport.close() closes the socket while the reader thread may still be inside a
    read; in a busy fleet run the descriptor number is soon reused by another session's
    new connection, and the stale thread then reads bytes of that connection, whose key
    exchange fails ("Negotiation failed", about once in 2,000 sessions). Shutting the
    socket down (the descriptor stays allocated) makes the reader see EOF at once; it
    then closes the socket itself and marks the transport inactive, and the client's
    close() that follows has nothing left to race with.
    """
    if transport is None or not transport.is_alive():
        return
    sock = transport.sock
    with contextlib.suppress(OSError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)
    transport.join(1.0)


def close(client: paramiko.SSHClient) -> None:
    with contextlib.suppress(Exception):
        stop_reader(client.get_transport())
    with contextlib.suppress(Exception):
        client.close()
