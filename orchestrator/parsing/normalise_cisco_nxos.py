"""Cisco NX-OS rows -> models.

`show ntp peer-status` is ntpdc's peer listing: no refid, no when, no offset and no
dispersion column (offset is None, never 0.0 as napalm reports), delay in seconds.
"""

from __future__ import annotations

from orchestrator.models import Association, AssociationState
from orchestrator.parsing.types import Normaliser, Row
from orchestrator.parsing.values import (
    float_or_none,
    int_or_none,
    normalise_each,
    reach_from_octal,
)

# * selected for sync, + peer mode(active), - peer mode(passive), = polled in client mode


def _peer_status(row: Row) -> Association:
    reach = reach_from_octal(row["REACH"])
    delay_s = float_or_none(row["DELAY"], "delay")
    selected = row["MARK"] == "*"
    state: AssociationState = (
        "sys.peer" if selected else "unreachable" if not reach else "configured"
    )
    return Association(
        address=row["ADDRESS"],
        refid=None,
        stratum=int_or_none(row["STRATUM"], "stratum"),
        when_s=None,
        poll_s=int_or_none(row["POLL"], "poll"),
        reach=reach,
        delay_ms=None if delay_s is None else round(delay_s * 1000.0, 6),
        offset_ms=None,
        jitter_ms=None,
        dispersion_ms=None,
        selected=selected,
        state=state,
        configured=True,  # peer-status lists the configured servers and peers
    )


def peer_status(rows: list[Row]) -> list[Association]:
    return normalise_each(rows, _peer_status)


def _configured_peer(row: Row) -> Association:
    return Association(
        address=row["ADDRESS"],
        refid=None,
        stratum=None,
        when_s=None,
        poll_s=None,
        reach=None,
        delay_ms=None,
        offset_ms=None,
        jitter_ms=None,
        dispersion_ms=None,
        selected=False,
        state="configured",
        configured=row["CONFIGURED"] == "configured",
    )


def peers(rows: list[Row]) -> list[Association]:
    """`show ntp peers`: the configured servers and peers, without any statistics."""
    return normalise_each(rows, _configured_peer)


NORMALISERS: dict[str, Normaliser] = {
    "cisco_nxos_show_ntp_peer-status": peer_status,
    "cisco_nxos_show_ntp_peers": peers,
}
