"""The running configuration of a simulated Cisco IOS device and how it prints.

Line grammar and order follow IOS 15: `ntp server [vrf V] ADDR [burst] [iburst]
[key N] [minpoll N] [maxpoll N] [prefer] [source IF] [version N]` (the parse/render
order of Ansible cisco.ios `rm_templates/ntp_global.py`), global NTP lines before the
server lines as `show running-config` prints them.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Literal

from orchestrator.ntp.auth import SymmetricKey
from orchestrator.type7 import decode_type7

_CISCO_B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_STD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# IOS `ntp authentication-key` algorithms -> orchestrator.ntp.auth algorithms.
_KEY_ALGORITHMS: dict[str, Literal["md5", "sha1", "aes128"]] = {
    "md5": "md5",
    "sha1": "sha1",
    "cmac-aes-128": "aes128",
}


def type8_secret(plain: str, name: str) -> str:
    """An IOS type 8 (PBKDF2-SHA256) secret string, deterministic per device."""
    salt = hashlib.sha256(name.encode()).digest()[:10]
    salt_text = base64.b64encode(salt).decode()[:14].translate(str.maketrans(_STD_B64, _CISCO_B64))
    digest = hashlib.pbkdf2_hmac("sha256", plain.encode(), salt_text.encode(), 1000)
    text = (
        base64.b64encode(digest).decode().rstrip("=").translate(str.maketrans(_STD_B64, _CISCO_B64))
    )
    return f"$8${salt_text}${text}"


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class IosNtpServer:
    address: str
    vrf: str | None = None
    burst: bool = False
    iburst: bool = False
    key: int | None = None
    minpoll: int | None = None
    maxpoll: int | None = None
    prefer: bool = False
    source: str | None = None
    version: int | None = None

    def line(self) -> str:
        parts = ["ntp server"]
        if self.vrf:
            parts += ["vrf", self.vrf]
        parts.append(self.address)
        if self.burst:
            parts.append("burst")
        if self.iburst:
            parts.append("iburst")
        if self.key is not None:
            parts += ["key", str(self.key)]
        if self.minpoll is not None:
            parts += ["minpoll", str(self.minpoll)]
        if self.maxpoll is not None:
            parts += ["maxpoll", str(self.maxpoll)]
        if self.prefer:
            parts.append("prefer")
        if self.source:
            parts += ["source", self.source]
        if self.version is not None:
            parts += ["version", str(self.version)]
        return " ".join(parts)


@dataclass
class AclEntry:
    permit: bool
    network: ipaddress.IPv4Network | None  # None = any
    text: str


@dataclass
class Interface:
    name: str
    lines: list[str]


@dataclass
class IosConfig:
    hostname: str
    enable_secret: str
    mgmt_address: str
    ntp_servers: list[IosNtpServer] = field(default_factory=list)
    ntp_source: str | None = None
    ntp_update_calendar: bool = False
    ntp_authenticate: bool = False
    ntp_keys: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (alg, type7)
    ntp_trusted_keys: list[int] = field(default_factory=list)
    # kind ("peer", "serve", "serve-only", "query-only") -> (acl, kod)
    ntp_access_groups: dict[str, tuple[str, bool]] = field(default_factory=dict)
    ntp_master: int | None = None
    acls: dict[str, list[AclEntry]] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)
    last_change: str = ""

    # ------------------------------------------------------------------ NTP servers

    def set_server(self, server: IosNtpServer) -> None:
        for i, existing in enumerate(self.ntp_servers):
            if existing.address == server.address and existing.vrf == server.vrf:
                self.ntp_servers[i] = server
                return
        self.ntp_servers.append(server)

    def remove_server(self, address: str, vrf: str | None) -> bool:
        before = len(self.ntp_servers)
        self.ntp_servers = [
            s for s in self.ntp_servers if not (s.address == address and s.vrf == vrf)
        ]
        return len(self.ntp_servers) != before

    def clear_ntp(self) -> None:
        """`no ntp`: every ntp line goes."""
        self.ntp_servers = []
        self.ntp_source = None
        self.ntp_update_calendar = False
        self.ntp_authenticate = False
        self.ntp_keys = {}
        self.ntp_trusted_keys = []
        self.ntp_access_groups = {}
        self.ntp_master = None

    @property
    def ntp_enabled(self) -> bool:
        return bool(self.ntp_servers or self.ntp_master is not None)

    def symmetric_key(self, key_id: int | None) -> SymmetricKey | None:
        """The key a server line names, usable for NTP authentication.

        With `ntp authenticate`, only trusted keys authenticate a source (IOS); a missing,
        untrusted or unsupported key leaves the association unable to sync.
        """
        if key_id is None or key_id not in self.ntp_keys:
            return None
        if self.ntp_authenticate and key_id not in self.ntp_trusted_keys:
            return None
        algorithm, encoded = self.ntp_keys[key_id]
        name = _KEY_ALGORITHMS.get(algorithm)
        if name is None:
            return None
        try:
            return SymmetricKey(key_id, name, decode_type7(encoded).encode())
        except ValueError:
            return None

    # ------------------------------------------------------------------ access control

    def acl_permits(self, acl: str, address: str) -> bool:
        entries = self.acls.get(acl)
        if entries is None:
            return True  # IOS treats a reference to an undefined ACL as permit any
        ip = ipaddress.IPv4Address(address)
        for entry in entries:
            if entry.network is None or ip in entry.network:
                return entry.permit
        return False  # implicit deny

    def may_sync_from(self, address: str) -> bool:
        """`ntp access-group` semantics: only `peer` grants synchronising to a source, and
        once any access group is configured only the granted access types remain."""
        if not self.ntp_access_groups:
            return True
        peer = self.ntp_access_groups.get("peer")
        if peer is None:
            return False
        try:
            return self.acl_permits(peer[0], address)
        except ValueError:
            return False

    # ------------------------------------------------------------------ rendering

    def ntp_lines(self) -> list[str]:
        lines = []
        for key_id, (alg, secret7) in sorted(self.ntp_keys.items()):
            lines.append(f"ntp authentication-key {key_id} {alg} {secret7} 7")
        if self.ntp_authenticate:
            lines.append("ntp authenticate")
        for key_id in sorted(self.ntp_trusted_keys):
            lines.append(f"ntp trusted-key {key_id}")
        if self.ntp_source:
            lines.append(f"ntp source {self.ntp_source}")
        for kind in ("peer", "serve", "serve-only", "query-only"):
            if kind in self.ntp_access_groups:
                acl, kod = self.ntp_access_groups[kind]
                lines.append(f"ntp access-group {kind} {acl}" + (" kod" if kod else ""))
        if self.ntp_master is not None:
            lines.append("ntp master" + (f" {self.ntp_master}" if self.ntp_master != 8 else ""))
        if self.ntp_update_calendar:
            lines.append("ntp update-calendar")
        lines += [s.line() for s in self.ntp_servers]
        return lines

    def acl_lines(self) -> list[str]:
        return [e.text for entries in self.acls.values() for e in entries]

    def render(self) -> list[str]:
        """`show running-config` body lines (after the `Current configuration` header)."""
        out = [
            "!",
            f"! Last configuration change at {self.last_change}",
            "!",
            "version 15.4",
            "service timestamps debug datetime msec",
            "service timestamps log datetime msec",
            "no service password-encryption",
            "!",
            f"hostname {self.hostname}",
            "!",
            "boot-start-marker",
            "boot-end-marker",
            "!",
            "!",
            f"enable secret 8 {type8_secret(self.enable_secret, self.hostname)}",
            "!",
            "no aaa new-model",
            "!",
            "ip domain name lab.local",
            "ip cef",
            "no ipv6 cef",
            "!",
        ]
        for intf in self.interfaces:
            out.append(f"interface {intf.name}")
            out += [f" {line}" for line in intf.lines]
            out.append("!")
        out += ["ip forward-protocol nd", "!", "no ip http server", "!"]
        acl = self.acl_lines()
        if acl:
            out += [*acl, "!"]
        ntp = self.ntp_lines()
        if ntp:
            out += [*ntp, "!"]
        out += [
            "line con 0",
            "line aux 0",
            "line vty 0 4",
            " login local",
            " transport input ssh",
            "!",
            "end",
        ]
        return out

    def copy(self) -> IosConfig:
        return replace(
            self,
            ntp_servers=list(self.ntp_servers),
            ntp_keys=dict(self.ntp_keys),
            ntp_trusted_keys=list(self.ntp_trusted_keys),
            ntp_access_groups=dict(self.ntp_access_groups),
            acls={k: list(v) for k, v in self.acls.items()},
            interfaces=[Interface(i.name, list(i.lines)) for i in self.interfaces],
        )
