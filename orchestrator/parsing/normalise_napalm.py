"""napalm `get_ntp_stats()` entries -> Associations, undoing what each napalm driver does.

napalm returns one dict per peer (remote, referenceid, synchronized, stratum, type, when,
hostpoll, reachability, delay, offset, jitter), but its drivers fill them differently
(napalm eos/junos/nxos/iosxr `get_ntp_stats`, read at napalm 5.x):

- eos, junos: a regex over the ntpq-style `show ntp associations`: delay/offset/jitter in
  ms as printed, and `reachability` is `int("377")`, the octal register read as decimal.
- nxos: `show ntp peer-status` as JSON: delay in seconds as printed, `reach` octal digits
  read as decimal, and offset/jitter hard-coded to 0.0 (the command has no such columns),
  so they are reported here as unknown (None), never as a perfect 0.
- iosxr: the XML operational model: the register as a number, delay/offset in ms, and
  the entry named "jitter" is the peer's dispersion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.errors import ParseError
from orchestrator.models import Association, AssociationState
from orchestrator.parsing.values import duration_s, reach_from_octal

COMMAND = "get_ntp_stats"


@dataclass(frozen=True)
class _Conventions:
    reach_printed_octal: bool  # the register's octal digits, read as a decimal int
    delay_unit_ms: float  # multiply the reported delay by this to get ms
    has_offset: bool  # False where the driver hard-codes offset/jitter to 0.0
    jitter_is_dispersion: bool


_CONVENTIONS: dict[str, _Conventions] = {
    "eos": _Conventions(True, 1.0, True, False),
    "junos": _Conventions(True, 1.0, True, False),
    "nxos": _Conventions(True, 1000.0, False, False),
    "iosxr": _Conventions(False, 1.0, True, True),
}


def associations_from_napalm(platform: str, stats: Sequence[object]) -> tuple[Association, ...]:
    """Every napalm stats entry as an Association; a malformed entry is a ParseError
    naming the platform and the entry (never dropped)."""
    conventions = _CONVENTIONS.get(platform)
    if conventions is None:
        raise ParseError(
            f"{platform}: no napalm get_ntp_stats conventions for this platform",
            platform=platform,
            command=COMMAND,
        )
    out = []
    for index, entry in enumerate(stats):
        try:
            if not isinstance(entry, Mapping):
                raise ValueError(f"{type(entry).__name__}, not a mapping")
            out.append(_association(entry, conventions))
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ParseError(
                f"napalm {COMMAND} on {platform}, entry {index + 1}: {detail}",
                platform=platform,
                command=COMMAND,
                line=index + 1,
            ) from None
    return tuple(out)


def _number(entry: Mapping[str, object], key: str) -> float:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} {value!r} is not a number")
    return float(value)


def _reach(value: float, conventions: _Conventions) -> int:
    if value != int(value) or value < 0:
        raise ValueError(f"reachability {value!r} is not a register value")
    if conventions.reach_printed_octal:
        decoded = reach_from_octal(str(int(value)))
        assert decoded is not None  # a non-negative int is never blank
        return decoded
    if value > 0o377:
        raise ValueError(f"reachability {int(value)} is larger than the 8-bit register")
    return int(value)


def _association(entry: Mapping[str, object], conventions: _Conventions) -> Association:
    remote = str(entry["remote"]).strip()
    if not remote:
        raise ValueError("remote is empty")
    reach = _reach(_number(entry, "reachability"), conventions)
    selected = entry["synchronized"] is True
    state: AssociationState = (
        "sys.peer" if selected else "unreachable" if reach == 0 else "candidate"
    )
    stratum = int(_number(entry, "stratum"))
    spread = _number(entry, "jitter")
    jitter = spread if conventions.has_offset and not conventions.jitter_is_dispersion else None
    refid = str(entry.get("referenceid") or "").strip() or None
    return Association(
        address=remote,
        refid=refid,
        stratum=stratum,
        when_s=duration_s(str(entry.get("when") or ""), "when"),
        poll_s=int(_number(entry, "hostpoll")) or None,
        reach=reach,
        delay_ms=round(_number(entry, "delay") * conventions.delay_unit_ms, 6),
        offset_ms=_number(entry, "offset") if conventions.has_offset else None,
        jitter_ms=jitter,
        dispersion_ms=spread if conventions.jitter_is_dispersion else None,
        selected=selected,
        state=state,
        configured=True,  # napalm lists the device's associations, which it configured
    )
