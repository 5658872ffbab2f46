"""Who may talk to the server: CIDR allow/deny lists.

The most specific matching network wins (as with chrony's allow/deny); on a tie
deny wins; an address no rule matches is denied. IPv4-mapped IPv6 addresses
(::ffff:a.b.c.d, what a dual-stack socket reports) are judged as IPv4.

Decisions are cached per address string in a bounded dict, because the server
asks for every packet and most packets come from a few thousand addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = ("127.0.0.0/8", "::1/128")


class AccessRuleError(ValueError):
    """A rule that is not a valid address or CIDR network."""


def parse_network(text: str) -> IpNetwork:
    """'10.0.0.0/8', '192.0.2.1' (a host), '::1', 'all' (both families)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise AccessRuleError(f"not an address or CIDR network: {text!r}") from None


def _expand(rules: Iterable[str]) -> list[IpNetwork]:
    out: list[IpNetwork] = []
    for r in rules:
        if r.strip().lower() == "all":
            out += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
        else:
            out.append(parse_network(r))
    return out


def normalise(address: str) -> IpAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class AccessList:
    """allow/deny networks; `permits(address)` decides."""

    allow: tuple[IpNetwork, ...]
    deny: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_rules(cls, allow: Iterable[str], deny: Iterable[str] = ()) -> AccessList:
        return cls(tuple(_expand(allow)), tuple(_expand(deny)))

    def decide(self, ip: IpAddress) -> bool:
        best_allow = max((n.prefixlen for n in self.allow if ip in n), default=-1)
        best_deny = max((n.prefixlen for n in self.deny if ip in n), default=-1)
        return best_allow > best_deny


class AccessControl:
    """An AccessList with a bounded per-address decision cache (the hot-path object)."""

    def __init__(self, rules: AccessList, cache_size: int = 65536) -> None:
        self.rules = rules
        self.cache: dict[str, bool] = {}  # address -> decision; bounded by cache_size
        self._cache_size = cache_size

    def permits(self, address: str) -> bool:
        hit = self.cache.get(address)
        if hit is not None:
            return hit
        try:
            ok = self.rules.decide(normalise(address))
        except ValueError:
            ok = False
        if len(self.cache) >= self._cache_size:
            self.cache.clear()  # cheap and bounded; a flood of addresses just re-decides
        self.cache[address] = ok
        return ok
