"""What a device says about itself, reduced to the few facts the rules judge.

Platforms disagree on where a fact lives (the sys.peer row of IOS, `^*` of chrony,
`Source:` of w32tm); the parsers normalise rows into models, and this module picks
the one value per fact that the rules compare against the site policy.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from orchestrator.models import Association, DeviceState

# w32tm prints peers with their mode flags (`10.0.0.1,0x8`); chrony and ntpq may add ports.
_FLAG_SUFFIX = re.compile(r",0x[0-9a-f]+$", re.IGNORECASE)
_IPV4_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_BRACKETED = re.compile(r"^\[([^\]]+)\](?::\d+)?$")


def normalise_address(text: str) -> str:
    """One spelling per address: no flags, ports, brackets or quotes; canonical IP form."""
    value = text.strip().strip('"').strip()
    value = _FLAG_SUFFIX.sub("", value)
    if (match := _BRACKETED.match(value)) or (match := _IPV4_PORT.match(value)):
        value = match.group(1)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.lower().rstrip(".")


def reach_count(register: int | None) -> int:
    """Answered polls among the last eight: the population count of the reach register."""
    if register is None:
        return 0
    return bin(register & 0xFF).count("1")


@dataclass(frozen=True)
class Observation:
    """The facts of one DeviceState the rules need, with addresses normalised."""

    synchronised: bool
    peer: str | None  # the address (or reference name) the device follows
    peer_association: Association | None
    offset_ms: float | None
    stratum: int | None
    reach: int | None
    poll_s: int | None  # the sync peer's poll interval, where the platform prints it
    configured_servers: frozenset[str]

    def association_for(self, address: str, state: DeviceState) -> Association | None:
        for assoc in state.associations:
            if normalise_address(assoc.address) == address:
                return assoc
        return None


def observe(state: DeviceState) -> Observation:
    selected = next((a for a in state.associations if a.selected), None)
    status = state.status
    synchronised = selected is not None or (status is not None and status.synchronized)

    peer: str | None = None
    if selected is not None:
        peer = normalise_address(selected.address)
    elif status is not None and status.synchronized and status.reference:
        peer = normalise_address(status.reference)

    # The sys.peer row carries the measured offset to the server; the status line is
    # the fallback for platforms that print only a system offset (w32tm, tracking).
    offset = selected.offset_ms if selected and selected.offset_ms is not None else None
    if offset is None and status is not None:
        offset = status.offset_ms

    stratum = status.stratum if status is not None and status.synchronized else None
    if stratum is None and selected is not None and selected.stratum is not None:
        stratum = selected.stratum + 1  # the device sits one level below its peer

    return Observation(
        synchronised=synchronised,
        peer=peer,
        peer_association=selected,
        offset_ms=offset,
        stratum=stratum,
        reach=selected.reach if selected is not None else None,
        poll_s=selected.poll_s if selected is not None else None,
        configured_servers=frozenset(
            normalise_address(s.address) for s in state.configured.servers
        ),
    )
