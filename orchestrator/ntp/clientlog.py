"""Per-client bookkeeping of the server: who polls us, how often, what happened.

Pure: times are passed in (Unix seconds). Memory is bounded: at most
`max_clients` records, the least recently seen evicted first (LRU), as chrony's
`clientloglimit` does.

Records are also kept as *deltas since the last `take_deltas()`*, so several
workers (threads or processes behind SO_REUSEPORT) can each add their share to
one persistent store without double counting. The delta table is bounded by the
same limit; new addresses beyond it are counted in `unsaved` and not persisted.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from orchestrator.models import ClientLogEntry


class Outcome(Enum):
    """What the server did with one request from a client."""

    RESPONDED = "responded"
    KOD = "kod"
    DROPPED = "dropped"


@dataclass(slots=True)
class ClientRecord:
    """Mutable counters of one client address."""

    address: str
    first_seen: float
    last_seen: float
    requests: int = 0
    responses: int = 0
    drops: int = 0
    kods: int = 0
    key_id: int | None = None
    nts: int = 0

    def entry(self) -> ClientLogEntry:
        return ClientLogEntry(
            address=self.address,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            requests=self.requests,
            responses=self.responses,
            drops=self.drops,
            kods=self.kods,
            key_id=self.key_id,
            nts=self.nts,
        )


class ClientLog:
    """Bounded LRU table of client records, plus deltas for persistence."""

    def __init__(self, max_clients: int = 4096) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be >= 1")
        self.max_clients = max_clients
        self._totals: OrderedDict[str, ClientRecord] = OrderedDict()
        self._deltas: dict[str, ClientRecord] = {}
        self.evicted = 0  # records pushed out of the LRU table
        self.unsaved = 0  # deltas lost: the delta table was full (a flood of new addresses)

    def __len__(self) -> int:
        return len(self._totals)

    def record(
        self,
        address: str,
        now: float,
        outcome: Outcome,
        key_id: int | None = None,
        nts: bool = False,
    ) -> None:
        """Count one request from `address` at Unix time `now` and what became of it
        (`nts`: answered with NTS authentication)."""
        totals = self._totals
        rec = totals.get(address)
        if rec is None:
            if len(totals) >= self.max_clients:
                totals.popitem(last=False)
                self.evicted += 1
            rec = totals[address] = ClientRecord(address, now, now)
        else:
            totals.move_to_end(address)
        delta = self._deltas.get(address)
        if delta is None:
            if len(self._deltas) >= self.max_clients:
                self.unsaved += 1
                _count(rec, now, outcome, key_id)
                rec.nts += nts
                return
            delta = self._deltas[address] = ClientRecord(address, now, now)
        # both records, inlined: this runs for every packet
        rec.last_seen = delta.last_seen = now
        rec.requests += 1
        delta.requests += 1
        if outcome is Outcome.RESPONDED:
            rec.responses += 1
            delta.responses += 1
        elif outcome is Outcome.KOD:
            rec.kods += 1
            delta.kods += 1
        else:
            rec.drops += 1
            delta.drops += 1
        if key_id is not None:
            rec.key_id = delta.key_id = key_id
        if nts:
            rec.nts += 1
            delta.nts += 1

    def entries(self) -> list[ClientLogEntry]:
        """Current records, most recently seen last."""
        return [r.entry() for r in self._totals.values()]

    def get(self, address: str) -> ClientLogEntry | None:
        rec = self._totals.get(address)
        return rec.entry() if rec else None

    def take_deltas(self) -> list[ClientLogEntry]:
        """Counters accumulated since the previous call (first/last seen within that span)."""
        out = [r.entry() for r in self._deltas.values()]
        self._deltas = {}
        return out


def _count(rec: ClientRecord, now: float, outcome: Outcome, key_id: int | None) -> None:
    rec.last_seen = now
    rec.requests += 1
    if outcome is Outcome.RESPONDED:
        rec.responses += 1
    elif outcome is Outcome.KOD:
        rec.kods += 1
    else:
        rec.drops += 1
    if key_id is not None:
        rec.key_id = key_id


def merge(old: ClientLogEntry, delta: ClientLogEntry) -> ClientLogEntry:
    """Add a delta to a stored entry (what the SQLite upsert does, for in-memory use)."""
    return ClientLogEntry(
        address=old.address,
        first_seen=min(old.first_seen, delta.first_seen),
        last_seen=max(old.last_seen, delta.last_seen),
        requests=old.requests + delta.requests,
        responses=old.responses + delta.responses,
        drops=old.drops + delta.drops,
        kods=old.kods + delta.kods,
        key_id=delta.key_id if delta.key_id is not None else old.key_id,
        nts=old.nts + delta.nts,
    )
