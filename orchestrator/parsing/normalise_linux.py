"""Linux rows -> models: ntpd/NTPsec `ntpq -p`, chrony `chronyc`, systemd `timedatectl`,
and the configured sources of chrony.conf / ntp.conf / timesyncd.conf (`cat FILE`).

Offsets follow RFC 5905 everywhere: positive means the source (or NTP time) is ahead
of the local clock. ntpq and systemd-timesyncd print that sign already; chrony prints
the opposite in `sources` ("positive offsets indicate that the local clock is ahead of
the source", chronyc(1)) and a direction word in `tracking` ("seconds slow of NTP
time"), so both are converted here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from orchestrator.models import (
    Association,
    AssociationState,
    ConfiguredNtp,
    NtpServerSpec,
    NtpStatus,
)
from orchestrator.parsing.types import Normaliser, Row
from orchestrator.parsing.values import (
    duration_s,
    float_or_none,
    int_or_none,
    normalise_each,
    reach_from_octal,
    single_row,
    text_or_none,
)


def _single(rows: list[Row], what: str, convert: Callable[[Row], NtpStatus]) -> NtpStatus:
    """Convert the one record of a status output; a bad value names that record."""
    return normalise_each([single_row(rows, what)], convert)[0]


# --------------------------------------------------------------------------- ntpq -p / -pn

# ntpq(1) "tally" codes. `o` is the PPS peer, which is the system peer. A blank tally
# is "reject": never answered (reach 0) or not (yet) usable.
_NTPQ_STATES: dict[str, AssociationState] = {
    "*": "sys.peer",
    "o": "sys.peer",
    "+": "candidate",
    "#": "candidate",  # "backup": survived selection, beyond the combine limit
    "-": "outlier",
    ".": "outlier",  # "excess": discarded by the cluster limit
    "x": "falseticker",
}


def _ntpq_state(tally: str, kind: str, reach: int | None) -> AssociationState:
    if tally.strip():
        return _NTPQ_STATES[tally]
    if kind == "p":
        # A pool prototype (refid .POOL.) is a DNS name ntpd resolves into servers;
        # it is never polled, so reach 0 says nothing about reachability.
        return "configured"
    return "unreachable" if not reach else "configured"


def _ntpq_address(remote: str) -> str:
    # `ntpq -p` may print "ip (hostname)" cut at 15 characters: "45.79.36.123 (t".
    return remote.split(" (", 1)[0]


def _ntpq_poll_s(text: str) -> int | None:
    # The poll interval is a power of two (2**hpoll s), but ntpq prints it in minutes,
    # hours or days once it no longer fits ("68m" is 4096 s, not 4080).
    seconds = duration_s(text, "poll")
    if not seconds or text.strip().isdigit():
        return seconds
    return int(2 ** round(math.log2(seconds)))


def _ntpq_association(row: Row) -> Association:
    reach = reach_from_octal(row["REACH"])
    state = _ntpq_state(row["TALLY"], row["TYPE"], reach)
    # Reach 0 with when "-" or stratum 16 (.INIT., .STEP., a pool prototype): nothing
    # usable received. ntpq then prints 0.000 (jitter 4000.00) placeholders, not
    # measurements.
    stratum = int_or_none(row["STRATUM"], "st")
    measured = bool(reach) or not (row["WHEN"].strip() == "-" or stratum == 16)
    return Association(
        address=_ntpq_address(row["REMOTE"]),
        refid=text_or_none(row["REFID"]),
        stratum=stratum,
        when_s=duration_s(row["WHEN"], "when"),
        poll_s=_ntpq_poll_s(row["POLL"]),
        reach=reach,
        delay_ms=float_or_none(row["DELAY"], "delay") if measured else None,
        offset_ms=float_or_none(row["OFFSET"], "offset") if measured else None,
        jitter_ms=float_or_none(row["JITTER"], "jitter") if measured else None,
        # Only xntpd-era tables print dispersion (a "disp" column instead of jitter).
        dispersion_ms=float_or_none(row["DISPERSION"], "disp") if measured else None,
        selected=state == "sys.peer",
        state=state,
        # ntpq lists the associations the daemon was configured with (servers, peers,
        # pool prototypes and the servers a pool spawned); it has no ~ marker.
        configured=True,
    )


def ntpq_associations(rows: list[Row]) -> list[Association]:
    # "No association ID's returned" is recorded as a NOTE row: a valid, empty answer.
    return normalise_each([r for r in rows if not r.get("NOTE")], _ntpq_association)


# --------------------------------------------------------------------------- chronyc

# Unit conversions are rounded to 1 ps so that 0.000020390 s is 0.02039 ms, not
# 0.020390000000000002.
_DIGITS = 9
_CHRONY_SAMPLE = re.compile(r"^(?P<value>[-+]?\d+(?:\.\d+)?)(?P<unit>ns|us|ms|s)$")
_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1000.0}
_CHRONY_AGE = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdy]?)$")
_AGE_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def chrony_ms(text: str, what: str) -> float:
    """`-479ns`, `+1234us`, `43ms`, `2s` -> milliseconds."""
    match = _CHRONY_SAMPLE.match(text.strip())
    if match is None:
        raise ValueError(f"{what} {text.strip()!r} is not a value like -479ns, 43ms or 2s")
    return round(float(match["value"]) * _TO_MS[match["unit"]], _DIGITS)


def _chrony_age_s(text: str) -> int | None:
    """LastRx: `11`, `47m`, `5h`, `2d`, `1y`; `-` when nothing was received yet."""
    if text.strip() == "-":
        return None
    match = _CHRONY_AGE.match(text.strip())
    if match is None:
        raise ValueError(f"LastRx {text.strip()!r} is not an age like 11, 47m or 2d")
    return int(match["n"]) * _AGE_S[match["unit"]]


# chrony accepts minpoll/maxpoll up to 24 (about 194 days); leave room, refuse nonsense.
_MAX_POLL_EXPONENT = 36


def _chrony_poll_s(text: str) -> int | None:
    # Poll is log2 seconds; refclocks may poll faster than once a second (negative),
    # which whole seconds cannot express.
    exponent = int(text)
    if exponent > _MAX_POLL_EXPONENT:  # also keeps 2**exponent from running for ever
        raise ValueError(f"poll {text.strip()!r} is not a log2 poll interval chrony uses")
    return 2**exponent if exponent >= 0 else None


_CHRONY_STATES: dict[str, AssociationState] = {
    "*": "sys.peer",
    "+": "candidate",
    "-": "outlier",
    "x": "falseticker",
    "~": "outlier",  # too variable
}


def _chrony_state(state: str, reach: int | None) -> AssociationState:
    if state == "?":
        # "?" is both "no packets yet" and "packets fail the tests"; only the first is
        # unreachable.
        return "unreachable" if not reach else "configured"
    return _CHRONY_STATES[state]


def _chrony_source(row: Row) -> Association:
    reach = reach_from_octal(row["REACH"])  # None for chrony 1.x (no Reach column)
    refclock = row["MODE"] == "#"
    # Nothing received yet: LastRx "-" (chrony >= 3) or, in chrony 2, an age like "10y"
    # with stratum 0 (only a reference clock has a real stratum 0). The sample then
    # prints as "+0ns[ +0ns] +/- 0ns", which is no measurement, not a zero offset.
    stratum = int_or_none(row["STRATUM"], "stratum")
    sampled = row["LAST_RX"].strip() != "-" and (refclock or stratum != 0)
    return Association(
        address=row["NAME"],
        # A reference clock is listed by its reference ID (GPS0, PPS); NTP sources
        # show no refid in this report.
        refid=row["NAME"] if refclock else None,
        stratum=stratum,
        when_s=_chrony_age_s(row["LAST_RX"]) if sampled else None,
        poll_s=_chrony_poll_s(row["POLL"]),
        reach=reach,
        delay_ms=None,
        # "+ 0.0" turns chrony's -0ns into 0.0 rather than -0.0.
        offset_ms=-chrony_ms(row["ADJUSTED_OFFSET"], "offset") + 0.0 if sampled else None,
        # the "+/-" estimated error
        jitter_ms=chrony_ms(row["ERROR"], "error") if sampled else None,
        dispersion_ms=None,
        selected=row["STATE"] == "*",
        state=_chrony_state(row["STATE"], reach),
        configured=True,
    )


def chrony_sources(rows: list[Row]) -> list[Association]:
    return normalise_each(rows, _chrony_source)


# No reference ("00000000 ()" or dotted "0.0.0.0" in chrony <= 2) or the local
# reference 127.127.1.1: "If the reference ID is 7F7F0101 and there is no name or IP
# address, it means the computer is not synchronised to any external source and that
# you have the local mode operating" (chronyc(1), tracking).
_NO_REFERENCE_IDS = frozenset({"00000000", "0.0.0.0"})
_LOCAL_REFERENCE_IDS = frozenset({"7F7F0101", "127.127.1.1"})


def _follows_a_source(reference_id: str, name: str) -> bool:
    if reference_id in _NO_REFERENCE_IDS:
        return False
    return not (reference_id in _LOCAL_REFERENCE_IDS and not name.strip())


_CHRONY_LEAP = {
    "Normal": "none",
    "Insert second": "add",
    "Delete second": "delete",
    "Not synchronised": "unsynchronised",
    "Not synchronized": "unsynchronised",  # US spelling in some builds
}
_EPOCH = "Thu Jan 01 00:00:00 1970"  # Ref time while chronyd never synchronised


def _seconds_to_ms(text: str, what: str) -> float | None:
    value = float_or_none(text, what)
    return None if value is None else round(value * 1000.0, _DIGITS)


def _tracking(row: Row) -> NtpStatus:
    leap = _CHRONY_LEAP.get(row["LEAP_STATUS"]) if row["LEAP_STATUS"] else None
    reference_id = row["REFERENCE_ID"]
    follows = _follows_a_source(reference_id, row["REFERENCE_NAME"])
    synchronized = follows and leap != "unsynchronised"
    offset_ms = _seconds_to_ms(row["SYSTEM_TIME"], "system time")
    if offset_ms is not None and row["SYSTEM_TIME_SIDE"] == "fast":
        offset_ms = -offset_ms + 0.0  # local clock ahead of NTP time; no -0.0
    reference = text_or_none(row["REFERENCE_NAME"]) or text_or_none(reference_id)
    return NtpStatus(
        synchronized=synchronized,
        # chronyd reports stratum 0 only while it has no reference: no stratum at all.
        stratum=int_or_none(row["STRATUM"], "stratum") or None,
        reference=reference if follows else None,
        offset_ms=offset_ms,
        root_delay_ms=_seconds_to_ms(row["ROOT_DELAY"], "root delay"),
        root_dispersion_ms=_seconds_to_ms(row["ROOT_DISPERSION"], "root dispersion"),
        leap=leap,
        last_sync=None if row["REF_TIME"] in ("", _EPOCH) else row["REF_TIME"],
    )


def chrony_tracking(rows: list[Row]) -> NtpStatus:
    return _single(rows, "tracking", _tracking)


# --------------------------------------------------------------------------- timedatectl

# systemd's format_timespan(): parts from years down to microseconds, the sign (when
# timesyncd prints one) in front of the whole span: "-1min 4s" is -64 s,
# "+6month 2w 8h 36min 32.899708s" a clock six months behind. A month is 30.44 days
# and a year 365.25 days (USEC_PER_MONTH, USEC_PER_YEAR); systemd >= 246 prints "μs"
# (Greek mu) for microseconds in UTF-8 locales, older ones "us".
_TIMESPAN_PART = re.compile(r"(\d+(?:\.\d+)?)(y|month|w|d|h|min|s|ms|us|μs|µs|ns)?")
_TIMESPAN_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "μs": 1e-3,
    "µs": 1e-3,
    "ms": 1.0,
    "s": 1000.0,
    "min": 60_000.0,
    "h": 3_600_000.0,
    "d": 86_400_000.0,
    "w": 604_800_000.0,
    "month": 2_629_800_000.0,
    "y": 31_557_600_000.0,
}


def timespan_ms(text: str | None, what: str) -> float | None:
    """systemd's human time spans -> milliseconds: `-5.224ms`, `+316us`, `1min 4s`, `0`."""
    if text is None or not text.strip():
        return None
    span = text.strip()
    sign = -1.0 if span.startswith("-") else 1.0
    total = 0.0
    for part in span.lstrip("+-").split():
        match = _TIMESPAN_PART.fullmatch(part)
        if match is None:
            raise ValueError(f"{what} {span!r} is not a time span like 1min 4s or 5ms")
        value, unit = match.groups()
        if unit is None and float(value) != 0:
            raise ValueError(f"{what} {span!r} has no unit")
        total += float(value) * _TIMESPAN_MS[unit or "ms"]
    return round(sign * total, _DIGITS) + 0.0  # no -0.0


def _timedatectl(row: Row) -> NtpStatus:
    # timedatectl says only whether the system clock is synchronised; the details
    # come from `timesync-status`, `chronyc tracking` or `ntpq`.
    if not row["SYNCHRONIZED"]:
        raise ValueError("no 'System clock synchronized' / 'NTP synchronized' line")
    return NtpStatus(
        synchronized=row["SYNCHRONIZED"] == "yes",
        stratum=None,
        reference=None,
        offset_ms=None,
        root_delay_ms=None,
        root_dispersion_ms=None,
        leap=None,
        last_sync=None,
    )


def timedatectl_status(rows: list[Row]) -> NtpStatus:
    return _single(rows, "timedatectl", _timedatectl)


_TIMESYNCD_LEAP = {
    "normal": "none",
    "second insert": "add",
    "second delete": "delete",
    "not synchronized": "unsynchronised",
}
_NTP_LEAP = {"0": "none", "1": "add", "2": "delete", "3": "unsynchronised"}


def _client_stratum(server_stratum: int | None) -> int | None:
    """timesyncd prints its server's stratum; an SNTP client is one below it (0: the
    server is unsynchronised or sent a kiss code, so the client has no stratum)."""
    return server_stratum + 1 if server_stratum else None


def _timesync_status(row: Row) -> NtpStatus:
    leap = _TIMESYNCD_LEAP.get(row["LEAP"]) if row["LEAP"] else None
    stratum = int_or_none(row["STRATUM"], "stratum")
    packets = int_or_none(row["PACKET_COUNT"], "packet count")
    return NtpStatus(
        synchronized=bool(packets) and bool(stratum) and leap not in (None, "unsynchronised"),
        stratum=_client_stratum(stratum),
        # The server as configured ("ip (name)"): the name if printed, else the address.
        reference=text_or_none(row["SERVER_NAME"]) or text_or_none(row["SERVER_ADDRESS"]),
        offset_ms=timespan_ms(row["OFFSET"], "offset"),
        # Only "Root distance" (delay/2 + dispersion) is printed; it splits into neither.
        root_delay_ms=None,
        root_dispersion_ms=None,
        leap=leap,
        last_sync=None,
    )


def timesync_status(rows: list[Row]) -> NtpStatus:
    """`timedatectl timesync-status`: the last exchange of systemd-timesyncd."""
    return _single(rows, "timesync-status", _timesync_status)


def _show_timesync(row: Row) -> NtpStatus:
    leap = _NTP_LEAP.get(row["LEAP"]) if row["LEAP"] else None
    stratum = int_or_none(row["STRATUM"], "stratum")
    answered = bool(row["SERVER_ADDRESS"]) and row["IGNORED"] != "yes"
    return NtpStatus(
        synchronized=answered and bool(stratum) and leap not in (None, "unsynchronised"),
        stratum=_client_stratum(stratum),
        reference=text_or_none(row["SERVER_NAME"]) or text_or_none(row["SERVER_ADDRESS"]),
        offset_ms=None,  # show-timesync prints no offset
        root_delay_ms=timespan_ms(row["ROOT_DELAY"], "RootDelay"),
        root_dispersion_ms=timespan_ms(row["ROOT_DISPERSION"], "RootDispersion"),
        leap=leap,
        # The server's receive timestamp of the last exchange: when timesyncd last synced.
        last_sync=text_or_none(row["RECEIVE_TIMESTAMP"]),
    )


def show_timesync(rows: list[Row]) -> NtpStatus:
    """`timedatectl show-timesync`: properties of systemd-timesyncd, NTPMessage inside."""
    return _single(rows, "show-timesync", _show_timesync)


# --------------------------------------------------------------------------- config files

# Options of a chrony/ntpd source line that take a value (the rest are flags).
_OPTION_ARGS = frozenset(
    {
        "port", "key", "minpoll", "maxpoll", "polltarget", "maxsources", "version", "mode", "ttl",
        "ntsport",
    }
)  # fmt: skip


def _source_spec(row: Row) -> NtpServerSpec:
    options: dict[str, int] = {}
    flags: set[str] = set()
    words = row["OPTIONS"].split()
    i = 0
    while i < len(words):
        if words[i] in _OPTION_ARGS and i + 1 < len(words):
            if re.fullmatch(r"-?\d+", words[i + 1]):
                options[words[i]] = int(words[i + 1])
            i += 2
        else:
            flags.add(words[i])
            i += 1
    return NtpServerSpec(
        address=row["ADDRESS"],
        key_id=options.get("key"),
        prefer="prefer" in flags,
        port=options.get("port", 123),
        iburst="iburst" in flags,
        minpoll=options.get("minpoll"),
        maxpoll=options.get("maxpoll"),
        nts="nts" in flags,
        nts_port=options.get("ntsport"),
    )


def ntp_conf_sources(rows: list[Row]) -> ConfiguredNtp:
    """`server`/`pool`/`peer` and `trustedkey` lines of chrony.conf or ntp.conf."""
    specs = normalise_each([r for r in rows if r["KEYWORD"]], _source_spec)
    trusted = sorted({int(k) for r in rows for k in r["TRUSTED"].split()})
    return ConfiguredNtp(
        servers=tuple(specs),
        authenticate=any(s.key_id is not None for s in specs),
        trusted_keys=tuple(trusted),
    )


def timesyncd_conf_sources(rows: list[Row]) -> ConfiguredNtp:
    """`NTP=` of timesyncd.conf: the last assignment wins, as in systemd."""
    servers = rows[-1]["SERVERS"].split() if rows else []
    return ConfiguredNtp(servers=tuple(NtpServerSpec(address=a, iburst=False) for a in servers))


NORMALISERS: dict[str, Normaliser] = {
    "linux_cat_ntp.conf": ntp_conf_sources,
    "linux_cat_timesyncd.conf": timesyncd_conf_sources,
    "linux_ntpq_-pn": ntpq_associations,
    "linux_chronyc_-n_sources": chrony_sources,
    "linux_chronyc_tracking": chrony_tracking,
    "linux_timedatectl": timedatectl_status,
    "linux_timedatectl_timesync-status": timesync_status,
    "linux_timedatectl_show-timesync": show_timesync,
}
