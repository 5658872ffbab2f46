"""Windows Time (w32tm) rows -> models.

`/query /status` and `/query /source` describe the clock as a status; `/query /peers`
lists the configured peers as associations. w32tm prints seconds ("0.0154902s"),
converted here to milliseconds. The Phase Offset (/verbose only) keeps w32tm's sign.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.models import Association, AssociationState, NtpStatus
from orchestrator.parsing.types import Normaliser, Row
from orchestrator.parsing.values import (
    float_or_none,
    int_or_none,
    normalise_each,
    single_row,
    text_or_none,
)

# Sources that mean "no time source": w32tm free-runs on the local clock. The name is
# localised ("Lokale CMOS-Uhr", "Horloge CMOS locale", "Reloj CMOS local"), but "CMOS"
# survives translation.
_LOCAL_CLOCKS = frozenset({"local cmos clock", "free-running system clock"})
# The reference ID of a clock that follows its own local clock, whatever the language:
# "0x4C4F434C (source name: "LOCL")". (An unspecified ID, 0x00000000, is no such sign:
# a Hyper-V guest synchronised by "VM IC Time Synchronization Provider" may show it.)
_NO_SOURCE_REFERENCE_IDS = frozenset({0x4C4F434C})
_LEAP = {"0": "none", "1": "add", "2": "delete", "3": "unsynchronised"}


def _peer_name(text: str) -> str:
    """`time.windows.com,0x9` -> `time.windows.com` (the NtpServer flags are config)."""
    return text.split(",", 1)[0].strip()


def _is_local_clock(source: str) -> bool:
    name = source.strip().lower()
    # a host name has no spaces ("cmos-ntp.example.net,0x9" is a real server)
    return name in _LOCAL_CLOCKS or ("cmos" in name and " " in name)


def _follows_no_source(reference_id: str) -> bool:
    return bool(reference_id) and int(reference_id, 16) in _NO_SOURCE_REFERENCE_IDS


def _seconds_ms(text: str, what: str) -> float | None:
    # Some locales print a decimal comma.
    value = float_or_none(text.replace(",", "."), what)
    return None if value is None else round(value * 1000.0, 9)  # to 1 ps, no float noise


def _sync_time(text: str | None) -> str | None:
    # Never synchronised: "unspecified", localised ("未指定", "nicht angegeben") or
    # "(null)". A time always has digits; those words have none.
    if text is None or not any(c.isdigit() for c in text):
        return None
    return text


def _stratum(text: str) -> int | None:
    # w32tm prints "0 (unspecified)" when it has no stratum, not a real stratum 0.
    value = int_or_none(text, "stratum")
    return value or None


def _single(rows: list[Row], what: str, convert: Callable[[Row], NtpStatus]) -> NtpStatus:
    """Convert the one record of a status output; a bad value names that record."""
    return normalise_each([single_row(rows, what)], convert)[0]


# --------------------------------------------------------------------------- /query /status


def _status(row: Row) -> NtpStatus:
    source = row["SOURCE"]
    leap = _LEAP.get(row["LEAP_INDICATOR"])
    if leap is None:
        raise ValueError(f"leap indicator {row['LEAP_INDICATOR']!r} is not 0-3")
    local = _is_local_clock(source) or _follows_no_source(row["REFERENCE_ID"])
    last_sync = text_or_none(row["LAST_SYNC"])
    return NtpStatus(
        # "Leap Indicator: 3", "Source: Local CMOS Clock" (in any language) or a LOCL /
        # unspecified reference ID all mean not synchronised to a time source.
        synchronized=leap != "unsynchronised" and not local and bool(source),
        stratum=_stratum(row["STRATUM"]),
        reference=None if local or not source else _peer_name(source),
        offset_ms=_seconds_ms(row["PHASE_OFFSET"], "phase offset"),  # /verbose only
        root_delay_ms=_seconds_ms(row["ROOT_DELAY"], "root delay"),
        root_dispersion_ms=_seconds_ms(row["ROOT_DISPERSION"], "root dispersion"),
        leap=leap,
        last_sync=_sync_time(last_sync),
    )


def query_status(rows: list[Row]) -> NtpStatus:
    return _single(rows, "w32tm status", _status)


# --------------------------------------------------------------------------- /query /source


def _source(row: Row) -> NtpStatus:
    source = row["SOURCE"]
    local = _is_local_clock(source)
    return NtpStatus(
        synchronized=not local,
        stratum=None,
        reference=None if local else _peer_name(source),
        offset_ms=None,
        root_delay_ms=None,
        root_dispersion_ms=None,
        leap=None,
        last_sync=None,
    )


def query_source(rows: list[Row]) -> NtpStatus:
    return _single(rows, "w32tm source", _source)


# --------------------------------------------------------------------------- /query /peers


def _peer_state(state: str, mode: str, reach: int | None) -> AssociationState:
    # w32tm marks no system peer here (that is `/query /source`). "Pending" means the
    # peer has not answered (or not been resolved) yet; the word is localised
    # ("Ausstehend"), but such a peer also shows "Mode: 0 (reserved)": no NTP exchange.
    if state == "Pending" or mode == "0" or reach == 0:
        return "unreachable"
    return "candidate"


def _peer(row: Row) -> Association:
    # Reachability (/verbose) is the reach register printed in decimal, not octal.
    reach = int_or_none(row["REACHABILITY"], "reachability")
    if reach is not None and reach > 255:
        raise ValueError(f"reachability {reach} is larger than the 8-bit register (255)")
    return Association(
        address=_peer_name(row["PEER"]),
        refid=None,
        stratum=_stratum(row["STRATUM"]),
        when_s=None,
        poll_s=int_or_none(row["HOST_POLL_SECONDS"], "host poll interval"),
        reach=reach,
        delay_ms=None,
        offset_ms=None,
        jitter_ms=None,
        dispersion_ms=None,
        selected=False,
        state=_peer_state(row["STATE"], row["MODE"], reach),
        configured=True,  # /query /peers lists the manual or domain peers w32tm uses
    )


def query_peers(rows: list[Row]) -> list[Association]:
    # "#Peers: 0" is recorded as a NO_PEERS row: a valid, empty answer. A peer slot
    # without a name ("Peer: ", seen pending on de-DE) names no server to check.
    return normalise_each([r for r in rows if not r.get("NO_PEERS") and r["PEER"]], _peer)


NORMALISERS: dict[str, Normaliser] = {
    "windows_w32tm_query_status": query_status,
    "windows_w32tm_query_source": query_source,
    "windows_w32tm_query_peers": query_peers,
}
