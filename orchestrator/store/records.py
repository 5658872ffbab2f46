"""What the history store gives back: plain frozen records of stored runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestrator.models import Check, ClientLogEntry, Verdict


@dataclass(frozen=True)
class StoredDevice:
    """One device's verdict in one stored run."""

    host: str
    site: str
    platform: str
    verdict: Verdict
    reason: str
    offset_ms: float | None
    stratum: int | None
    reach: int | None
    peer: str | None
    checks: tuple[Check, ...]
    evidence_json: str  # parsed rows + redacted raw outputs, as stored

    @property
    def complies(self) -> bool:
        return self.verdict is Verdict.COMPLIANT

    @property
    def evidence(self) -> dict[str, Any]:
        value = json.loads(self.evidence_json)
        return value if isinstance(value, dict) else {}


_new = object.__new__
_set = object.__setattr__


def light_device(
    host: str,
    site: str,
    platform: str,
    verdict: Verdict,
    reason: str,
    offset_ms: float | None,
    stratum: int | None,
    reach: int | None,
    peer: str | None,
) -> StoredDevice:
    """A StoredDevice without checks and evidence, equal to one made by its __init__ but
    made in a third of the time (a report's history reads 100,000s of them): the frozen
    dataclass's __init__ sets each field through object.__setattr__, this sets the
    instance dict once."""
    device = _new(StoredDevice)
    _set(
        device,
        "__dict__",
        {
            "host": host,
            "site": site,
            "platform": platform,
            "verdict": verdict,
            "reason": reason,
            "offset_ms": offset_ms,
            "stratum": stratum,
            "reach": reach,
            "peer": peer,
            "checks": (),
            "evidence_json": "{}",
        },
    )
    return device


@dataclass(frozen=True)
class StoredRun:
    """One `orch verify` run; `devices` may be narrowed to one site by the query."""

    id: int
    started_at: float  # Unix time, seconds
    finished_at: float
    site_filter: str | None
    host_filter: tuple[str, ...]
    devices: tuple[StoredDevice, ...]
    unknown_clients: tuple[ClientLogEntry, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Devices per verdict, every verdict present (0 where none)."""
        counts = {v.value: 0 for v in Verdict}
        for device in self.devices:
            counts[device.verdict] += 1  # a StrEnum member hashes as its value
        return counts

    @property
    def compliant(self) -> int:
        return sum(1 for d in self.devices if d.complies)

    @property
    def noncompliant(self) -> int:
        return len(self.devices) - self.compliant

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted({d.site for d in self.devices}))
