"""The C packet loop (`_fastpath.c`), when it was built, and its Python-facing wrappers.

`module()` is the compiled extension or None: not built (no compiler at install time),
or switched off with ORCH_FASTPATH=0 (tests run the server on both paths). The C loop
answers the common case itself - 48-octet mode-3 requests from allowed, non-link-local
addresses - and hands every other datagram (MACs, extension fields, mode 1, odd
versions, denied clients) back to `NtpServerCore`. The rate limiter's buckets and the
client log live in C tables then; `CRateLimiter` and `CClientLog` give the Python
core the same interface over those same tables, so one client has one bucket and one
log record whichever path its packets take.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from types import ModuleType
from typing import Any

from orchestrator.models import ClientLogEntry
from orchestrator.ntp.clientlog import ClientLog, Outcome
from orchestrator.ntp.ratelimit import RateDecision, RateLimitConfig, RateLimiter

ENV_SWITCH = "ORCH_FASTPATH"  # "0": use the pure-Python packet loop
_DECISIONS = (RateDecision.PASS, RateDecision.LEAK, RateDecision.KOD, RateDecision.DROP)
_OUTCOMES = {Outcome.RESPONDED: 0, Outcome.KOD: 1, Outcome.DROPPED: 2}


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("orchestrator.serve._fastpath")
    except ImportError:
        return None


_MODULE = _load()


def module() -> ModuleType | None:
    """The extension, or None when it is not built or ORCH_FASTPATH=0."""
    if os.environ.get(ENV_SWITCH, "1").strip() in ("0", "no", "off", "false"):
        return None
    return _MODULE


def describe() -> str:
    if _MODULE is None:
        return "Python (the C extension was not built: no C compiler or Python headers)"
    if module() is None:
        return f"Python ({ENV_SWITCH}=0)"
    return "C (orchestrator/serve/_fastpath.c), Python for unusual packets"


class _Names:
    """The C tables key on IP addresses (what sockets report). Any other name (a test's
    "a", a future transport's peer id) is stood for by an address in ff0f::/16, a
    multicast range no NTP request comes from, and mapped back on the way out."""

    def __init__(self) -> None:
        self._alias: dict[str, str] = {}
        self._name: dict[str, str] = {}

    def alias(self, name: str) -> str:
        a = self._alias.get(name)
        if a is None:
            a = self._alias[name] = f"ff0f::{len(self._alias) + 1:x}"
            self._name[a] = name
        return a

    def entry(self, t: tuple[Any, ...]) -> ClientLogEntry:
        e = ClientLogEntry(*t)
        if self._name and e.address in self._name:
            return ClientLogEntry(self._name[e.address], *t[1:])
        return e


class CRateLimiter(RateLimiter):
    """RateLimiter over a C RateTable (shared with the C packet loop)."""

    def __init__(self, config: RateLimitConfig, table: Any) -> None:
        super().__init__(config)
        self.table = table
        self._names = _Names()

    def __len__(self) -> int:
        return len(self.table)

    @property
    def evicted(self) -> int:
        return int(self.table.evicted)

    @evicted.setter
    def evicted(self, value: int) -> None:  # RateLimiter.__init__ sets it
        pass

    def check(self, address: str, now: float, random_bits: int = 1) -> RateDecision:
        try:
            return _DECISIONS[self.table.check(address, now, random_bits)]
        except ValueError:
            return _DECISIONS[self.table.check(self._names.alias(address), now, random_bits)]

    def kod_allowed(self, address: str, now: float) -> bool:
        try:
            return bool(self.table.kod_allowed(address, now))
        except ValueError:
            return bool(self.table.kod_allowed(self._names.alias(address), now))


class CClientLog(ClientLog):
    """ClientLog over a C ClientTable (shared with the C packet loop)."""

    def __init__(self, table: Any) -> None:
        super().__init__(int(table.max_clients))
        self.table = table
        self._names = _Names()
        # NTS requests never reach the C loop (they carry extension fields): their counts
        # are kept here, per address, and merged into what the C table reports.
        self._nts: dict[str, int] = {}
        self._nts_delta: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.table)

    @property
    def evicted(self) -> int:
        return int(self.table.evicted)

    @evicted.setter
    def evicted(self, value: int) -> None:
        pass

    @property
    def unsaved(self) -> int:
        return int(self.table.unsaved)

    @unsaved.setter
    def unsaved(self, value: int) -> None:
        pass

    def record(
        self,
        address: str,
        now: float,
        outcome: Outcome,
        key_id: int | None = None,
        nts: bool = False,
    ) -> None:
        try:
            self.table.record(address, now, _OUTCOMES[outcome], key_id)
        except ValueError:
            self.table.record(self._names.alias(address), now, _OUTCOMES[outcome], key_id)
        if nts:
            self._nts[address] = self._nts.get(address, 0) + 1
            self._nts_delta[address] = self._nts_delta.get(address, 0) + 1
            if len(self._nts) > 2 * self.max_clients:  # bounded like the C table it mirrors
                self._nts = {a: n for a, n in self._nts.items() if self.get(a) is not None}

    def _with_nts(self, entry: ClientLogEntry, counts: dict[str, int]) -> ClientLogEntry:
        n = counts.get(entry.address, 0)
        return dataclasses.replace(entry, nts=n) if n else entry

    def entries(self) -> list[ClientLogEntry]:
        return [self._with_nts(self._names.entry(t), self._nts) for t in self.table.entries()]

    def get(self, address: str) -> ClientLogEntry | None:
        t = self.table.get(address)
        if t is None and address in self._names._alias:
            t = self.table.get(self._names._alias[address])
        return None if t is None else self._with_nts(self._names.entry(t), self._nts)

    def take_deltas(self) -> list[ClientLogEntry]:
        deltas, self._nts_delta = self._nts_delta, {}
        return [self._with_nts(self._names.entry(t), deltas) for t in self.table.take_deltas()]


def tables(
    mod: ModuleType, max_clients: int, ratelimit: RateLimitConfig | None
) -> tuple[CClientLog, CRateLimiter | None]:
    """A client log and (if configured) a rate limiter backed by new C tables."""
    log = CClientLog(mod.ClientTable(max_clients))
    if ratelimit is None:
        return log, None
    rate = mod.RateTable(
        ratelimit.max_clients, ratelimit.interval, ratelimit.burst, ratelimit.leak, ratelimit.kod
    )
    return log, CRateLimiter(ratelimit, rate)
