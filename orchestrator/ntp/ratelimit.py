"""Per-client response rate limiting, modelled on chrony's `ratelimit` directive.

Each client address has a token bucket: one token per `2**interval` seconds, at
most `burst` tokens; every request spends one. A request finding the bucket
empty is *limited*:
  * with probability 1/2**leak it is answered anyway (`leak`, as in chrony), so a
    spoofed flood cannot fully deny service to the real owner of an address;
  * else it gets a KoD RATE if that client has not had one in the last
    `2**interval` seconds (KoDs are themselves limited), and is dropped otherwise.

Memory is bounded: at most `max_clients` buckets, least recently used evicted.
Time (`now`, seconds, any monotonic-ish origin) and randomness are passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum


class RateDecision(Enum):
    PASS = "pass"  # within the limit
    LEAK = "leak"  # over the limit but let through by the leak
    KOD = "kod"  # over the limit: answer with KoD RATE
    DROP = "drop"  # over the limit: no answer


@dataclass(frozen=True)
class RateLimitConfig:
    """chrony `ratelimit interval I burst B leak L` (defaults as chrony's: 3, 8, 2)."""

    interval: int = 3  # log2 seconds of the minimum average interval between requests
    burst: int = 8  # requests a client may send back to back
    leak: int = 2  # 1 in 2**leak limited requests still answered; 0 = never
    kod: bool = True  # send KoD RATE (at most one per 2**interval s per client)
    max_clients: int = 65536

    def __post_init__(self) -> None:
        if not -19 <= self.interval <= 12:
            raise ValueError("ratelimit interval must be in -19..12 (log2 seconds)")
        if not 1 <= self.burst <= 255:
            raise ValueError("ratelimit burst must be in 1..255")
        if not 0 <= self.leak <= 4:
            raise ValueError("ratelimit leak must be in 0..4")
        if self.max_clients < 1:
            raise ValueError("ratelimit max_clients must be >= 1")


class RateLimiter:
    """Token buckets per client address (bounded LRU)."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._period = 2.0**config.interval
        self._leak_mask = (1 << config.leak) - 1
        # address -> [tokens, last refill time, last KoD time]
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, address: str, now: float, random_bits: int = 1) -> RateDecision:
        """Spend a token of `address` at time `now`; `random_bits` drives the leak."""
        cfg = self.config
        b = self._buckets.get(address)
        if b is None:
            if len(self._buckets) >= cfg.max_clients:
                self._buckets.popitem(last=False)
                self.evicted += 1
            self._buckets[address] = [cfg.burst - 1.0, now, -1e18]
            return RateDecision.PASS
        self._buckets.move_to_end(address)
        elapsed = now - b[1]
        if elapsed > 0:  # a clock that steps back refills nothing
            b[0] = min(float(cfg.burst), b[0] + elapsed / self._period)
            b[1] = now
        if b[0] >= 1.0:
            b[0] -= 1.0
            return RateDecision.PASS
        if self._leak_mask and random_bits & self._leak_mask == 0:
            return RateDecision.LEAK
        if cfg.kod and now - b[2] >= self._period:
            b[2] = now
            return RateDecision.KOD
        return RateDecision.DROP

    def kod_allowed(self, address: str, now: float) -> bool:
        """May `address` get a KoD now (one per 2**interval s)? Records it if so.

        Used for KoD DENY, where the client is refused whatever its tokens.
        """
        b = self._buckets.get(address)
        if b is None:
            if len(self._buckets) >= self.config.max_clients:
                self._buckets.popitem(last=False)
                self.evicted += 1
            self._buckets[address] = [float(self.config.burst), now, now]
            return True
        self._buckets.move_to_end(address)
        if now - b[2] >= self._period:
            b[2] = now
            return True
        return False
