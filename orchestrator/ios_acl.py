"""Cisco IOS `ntp access-group` semantics, pure: shared by push (a warning before the
change) and compliance (the `blocked` verdict after it).

"If any access groups are specified, only the specified access types are granted"
(IOS NTP command reference): only `peer` lets the device synchronise to a server, and
only to addresses its ACL permits. Standard numbered ACLs are evaluated from their
`access-list N ...` lines; a named ACL is not in `include ^access-list`, so it is
reported as unknown rather than guessed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

_ACCESS_GROUP = re.compile(
    r"^ntp access-group (?:ipv4 |ipv6 )?(peer|serve|serve-only|query-only) (\S+)"
)


@dataclass(frozen=True)
class AccessGroups:
    """The `ntp access-group` lines of a configuration, by access type."""

    lines: tuple[str, ...]
    peer_acls: tuple[str, ...]

    @property
    def any(self) -> bool:
        return bool(self.lines)


def access_groups(lines: Sequence[str]) -> AccessGroups:
    matched = [(line, m.groups()) for line in lines if (m := _ACCESS_GROUP.match(line.strip()))]
    return AccessGroups(
        lines=tuple(line.strip() for line, _ in matched),
        peer_acls=tuple(acl for _, (kind, acl) in matched if kind == "peer"),
    )


def acl_permits(acl: str, address: str, acl_lines: Sequence[str] | None) -> bool | None:
    """Whether numbered standard ACL `acl` permits `address`; None when it cannot tell
    (`acl_lines` None: the device's ACLs were not read)."""
    if acl_lines is None:
        return None
    try:
        target = ipaddress.ip_address(address)
    except ValueError:
        return None  # a hostname: the ACL matches the address it resolves to
    entries = [w[2:] for w in map(str.split, acl_lines) if w[:2] == ["access-list", acl]]
    if not entries:
        # IOS treats a numbered ACL that is not defined as `permit any`; a named ACL is
        # not in `include ^access-list`, so say nothing about it.
        return True if acl.isdigit() else None
    for words in entries:
        if not words or words[0] not in ("permit", "deny"):
            continue  # remark
        action, rest = words[0], words[1:]
        if not rest:
            continue
        if rest[0] == "any":
            matched = True
        else:
            if rest[0] == "host" and len(rest) > 1:
                rest = rest[1:]
            wildcard = rest[1] if len(rest) > 1 and rest[1][0].isdigit() else "0.0.0.0"
            try:
                base = int(ipaddress.IPv4Address(rest[0]))
                mask = int(ipaddress.IPv4Address(wildcard))
            except ValueError:
                return None
            matched = isinstance(target, ipaddress.IPv4Address) and (
                int(target) & ~mask & 0xFFFFFFFF
            ) == (base & ~mask & 0xFFFFFFFF)
        if matched:
            return action == "permit"
    return False  # implicit deny


def peer_access(groups: AccessGroups, server: str, acl_lines: Sequence[str] | None) -> bool | None:
    """Whether the access groups let the device synchronise to `server`: True, False, or
    None when an ACL cannot be read. No access group at all grants everything."""
    if not groups.any:
        return True
    if not groups.peer_acls:
        return False
    verdicts = [acl_permits(acl, server, acl_lines) for acl in groups.peer_acls]
    if any(v is True for v in verdicts):
        return True
    if all(v is False for v in verdicts):
        return False
    return None
