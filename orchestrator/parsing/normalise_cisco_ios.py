"""Cisco IOS / IOS-XE rows -> models (also the tally-code rules IOS-XR shares)."""

from __future__ import annotations

from orchestrator.models import (
    Association,
    AssociationState,
    ConfiguredNtp,
    NtpServerSpec,
    NtpStatus,
)
from orchestrator.parsing.types import Normaliser, Row, RowError
from orchestrator.parsing.values import (
    duration_s,
    float_or_none,
    int_or_none,
    normalise_each,
    reach_from_octal,
    single_row,
    text_or_none,
)

# Two legend generations give the same tally characters different names:
#   15.x / XE: * sys.peer, # selected, + candidate, - outlyer, x falseticker, ~ configured
#   12.x:      * master (synced), # master (unsynced), + selected, - candidate, ~ configured
_MODERN_STATES: dict[str, AssociationState] = {
    "*": "sys.peer",
    "#": "candidate",
    "+": "candidate",
    "-": "outlier",
    "x": "falseticker",
}
_LEGACY_STATES: dict[str, AssociationState] = {
    "*": "sys.peer",
    "#": "candidate",  # "master (unsynced)": chosen, but the clock is not synchronised yet
    "+": "candidate",  # "selected"
    "-": "candidate",  # "candidate"
}

# `ntp trusted-key 1 - 65535` is a real idiom (trust every key); the key list is expanded,
# so a range is bounded to keep a hostile or garbled line from costing gigabytes.
_MAX_TRUSTED_RANGE = 65536


def is_legacy_legend(legend: str) -> bool:
    """True for the 12.x wording (`master (synced)` / `primary (synced)`)."""
    return legend.startswith(("master", "primary"))


def tally_state(tally: str, legend: str, reach: int | None, configured: bool) -> AssociationState:
    """State from the tally code; no legend printed (Packet Tracer) means the modern one."""
    if tally:
        table = _LEGACY_STATES if is_legacy_legend(legend) else _MODERN_STATES
        try:
            return table[tally]
        except KeyError:
            raise ValueError(
                f"tally code {tally!r} is not in the {legend or 'default'} legend"
            ) from None
    if not reach:
        return "unreachable"
    return "configured" if configured else "outlier"


def association(row: Row) -> Association:
    """One `show ntp associations` row (IOS, IOS-XE, IOS-XR: same columns)."""
    reach = reach_from_octal(row["REACH"])
    configured = row["CONFIGURED"] == "~"
    return Association(
        address=row["ADDRESS"],
        refid=text_or_none(row["REFID"]),
        stratum=int_or_none(row["STRATUM"], "stratum"),
        when_s=duration_s(row["WHEN"], "when"),
        poll_s=int_or_none(row["POLL"], "poll"),
        reach=reach,
        delay_ms=float_or_none(row["DELAY"], "delay"),
        offset_ms=float_or_none(row["OFFSET"], "offset"),
        jitter_ms=None,  # the last column is dispersion; IOS prints no jitter here
        dispersion_ms=float_or_none(row["DISPERSION"], "disp"),
        selected=row["TALLY"] == "*",
        state=tally_state(row["TALLY"], row["LEGEND"], reach, configured),
        configured=configured,
    )


def associations(rows: list[Row]) -> list[Association]:
    """`show ntp associations`; "%NTP is not enabled." means no associations at all."""
    if any(row.get("NOT_ENABLED") for row in rows):
        if len(rows) > 1:
            raise RowError("'%NTP is not enabled.' next to association rows", row=0)
        return []
    return normalise_each(rows, association)


def _last_sync(row: Row) -> str | None:
    # An all-zero reference timestamp means never set (printed as 1900 or 1970).
    if set(row.get("REFERENCE_TIMESTAMP", "").replace(".", "")) <= {"0"}:
        return None
    return text_or_none(row.get("REFERENCE_TIME"))


def _signed(text: str, what: str) -> float | None:
    # Packet Tracer prints "- 0.0000"; real IOS "-0.0000".
    return float_or_none(text.replace(" ", ""), what)


def status(rows: list[Row]) -> NtpStatus:
    row = single_row(rows, "status")
    if row["SYNC"] == "not enabled":  # "%NTP is not enabled."
        return NtpStatus(False, None, None, None, None, None, leap=None, last_sync=None)
    return NtpStatus(
        synchronized=row["SYNC"] == "synchronized",
        stratum=int_or_none(row["STRATUM"], "stratum"),
        reference=text_or_none(row["REFERENCE"]),
        offset_ms=_signed(row["OFFSET"], "clock offset"),
        root_delay_ms=float_or_none(row["ROOT_DELAY"], "root delay"),
        root_dispersion_ms=float_or_none(row["ROOT_DISPERSION"], "root dispersion"),
        leap=None,  # IOS does not print the leap indicator in `show ntp status`
        last_sync=_last_sync(row),
    )


# Global `ntp` commands that are valid but say nothing about the client settings orch
# manages; the template names them explicitly so unknown ones still fail loudly.
_NOT_CLIENT_SETTINGS = frozenset(
    {
        "master",
        "logging",
        "clock-period",
        "max-associations",
        "broadcastdelay",
        "refclock",
        "allow",
        "leap",
        "maxdistance",
        "mindistance",
        "orphan",
        "panic",
        "passive",
        "multicast",
        "broadcast",
        "disable",
        "peer",
    }
)


# `show ntp associations detail` flags -> state (first match wins).
_DETAIL_STATES: tuple[tuple[str, AssociationState], ...] = (
    ("our_master", "sys.peer"),
    ("sys.peer", "sys.peer"),
    ("selected", "candidate"),
    ("candidate", "candidate"),
    ("outlyer", "outlier"),
    ("falseticker", "falseticker"),
)


def _detail_association(row: Row) -> Association:
    flags = {f.strip() for f in row["FLAGS"].split(",")}
    reach = reach_from_octal(row["REACH"])
    configured = "configured" in flags
    state: AssociationState | None = next((s for f, s in _DETAIL_STATES if f in flags), None)
    if state is None:
        state = "unreachable" if not reach else "configured" if configured else "outlier"
    return Association(
        address=row["ADDRESS"],
        refid=text_or_none(row["REFID"]),
        stratum=int_or_none(row["STRATUM"], "stratum"),
        when_s=None,  # the detail view has no "when"
        poll_s=int_or_none(row["POLL"], "poll"),
        reach=reach,
        delay_ms=float_or_none(row["DELAY"], "delay"),
        offset_ms=float_or_none(row["OFFSET"], "offset"),
        jitter_ms=float_or_none(row["JITTER"], "jitter"),  # printed by IOS 15+/XE only
        dispersion_ms=float_or_none(row["DISPERSION"], "dispersion"),
        selected=state == "sys.peer",
        state=state,
        configured=configured,
    )


def associations_detail(rows: list[Row]) -> list[Association]:
    return normalise_each(rows, _detail_association)


def _server(row: Row) -> NtpServerSpec:
    return NtpServerSpec(
        address=row["ADDRESS"],
        key_id=int_or_none(row["KEY"], "key"),
        prefer=bool(row["PREFER"]),
        iburst=bool(row["IBURST"]),
        minpoll=int_or_none(row["MINPOLL"], "minpoll"),
        maxpoll=int_or_none(row["MAXPOLL"], "maxpoll"),
    )


def _one_or_none(values: list[str]) -> str | None:
    distinct = sorted(set(values))
    return distinct[0] if len(distinct) == 1 else None


def config(rows: list[Row]) -> ConfiguredNtp:
    """`show running-config | include ntp` -> the NTP client configuration.

    vrf: the servers' vrf when they agree on one; source interface: `ntp source`,
    else the per-server `source` when all servers agree.
    """
    servers: list[NtpServerSpec] = []
    vrfs: list[str] = []
    server_sources: list[str] = []
    global_source: str | None = None
    update_calendar = False
    authenticate = False
    trusted: list[int] = []
    access_groups: list[str] = []
    for index, row in enumerate(rows):
        directive = row["DIRECTIVE"]
        try:
            if directive == "server":
                servers.append(_server(row))
                vrfs.append(row["VRF"])
                server_sources.append(row["SOURCE"])
            elif directive == "source":
                global_source = row["SOURCE"]
            elif directive == "update-calendar":
                update_calendar = True
            elif directive == "authenticate":
                authenticate = True
            elif directive == "trusted-key":
                first = int(row["KEY"])
                last = int(row["KEY_LAST"]) if row["KEY_LAST"] else first
                if last < first or last - first >= _MAX_TRUSTED_RANGE:
                    raise ValueError(
                        f"trusted-key range {first} - {last} is not a range orch handles "
                        f"(at most {_MAX_TRUSTED_RANGE} keys, first <= last)"
                    )
                trusted.extend(range(first, last + 1))
            elif directive == "access-group":
                access_groups.append(f"ntp access-group {' '.join(row['ACCESS_GROUP'].split())}")
            elif directive == "authentication-key":
                pass  # key ids and values stay on the device; nothing to report
            elif directive not in _NOT_CLIENT_SETTINGS:
                raise RowError(f"unexpected ntp command {directive!r}", row=index)
        except ValueError as exc:
            raise RowError(str(exc), row=index) from None
    return ConfiguredNtp(
        servers=tuple(servers),
        source_interface=global_source or _one_or_none(server_sources) or None,
        vrf=_one_or_none(vrfs) or None,
        update_calendar=update_calendar,
        authenticate=authenticate,
        trusted_keys=tuple(sorted(set(trusted))),
        access_groups=tuple(access_groups),
    )


NORMALISERS: dict[str, Normaliser] = {
    "cisco_ios_show_ntp_associations": associations,
    "cisco_ios_show_ntp_associations_detail": associations_detail,
    "cisco_ios_show_ntp_status": status,
    "cisco_ios_show_running-config_include_ntp": config,
}
