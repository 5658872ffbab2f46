"""The C loop's tables against the pure-Python ones, operation by operation.

The rate limiter's buckets and the client log are C hash tables when the C packet loop
is built (orchestrator/serve/_fastpath.c); the core's decisions must not change. Random
sequences over more addresses than the tables hold exercise eviction (LRU) and the hash
table's deletions; every answer and every table read must equal the Python one's.
"""

from __future__ import annotations

import random

import pytest

from orchestrator.ntp.clientlog import ClientLog, Outcome
from orchestrator.ntp.ratelimit import RateLimitConfig, RateLimiter
from orchestrator.serve import fastpath

MOD = fastpath.module()
pytestmark = pytest.mark.skipif(MOD is None, reason=f"C loop not built ({fastpath.describe()})")


def _addresses(rng: random.Random, n: int) -> list[str]:
    v4 = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(n)]
    v6 = [f"2001:db8::{rng.randrange(1, 1 << 16):x}:{i:x}" for i in range(n // 4)]
    return sorted(set(v4 + v6 + ["127.0.0.1", "::1"]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rate_limiter_decides_as_the_python_one(seed: int) -> None:
    assert MOD is not None
    rng = random.Random(seed)
    config = RateLimitConfig(interval=-2, burst=3, leak=2, kod=True, max_clients=40)
    py = RateLimiter(config)
    c = fastpath.tables(MOD, 10, config)[1]
    assert c is not None
    pool = _addresses(rng, 120)
    hot = pool[:8]  # a few clients come back often (they stay in the table)
    now = 1_790_000_000.0
    for _ in range(20_000):
        now += rng.expovariate(200.0)
        address = rng.choice(hot) if rng.random() < 0.6 else rng.choice(pool)
        if rng.random() < 0.05:
            assert c.kod_allowed(address, now) == py.kod_allowed(address, now)
        else:
            bits = rng.getrandbits(32)
            assert c.check(address, now, bits) is py.check(address, now, bits)
    assert len(c) == len(py) == 40
    assert c.evicted == py.evicted > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_client_log_keeps_what_the_python_one_keeps(seed: int) -> None:
    assert MOD is not None
    rng = random.Random(seed)
    py = ClientLog(max_clients=30)
    c = fastpath.tables(MOD, 30, None)[0]
    pool = _addresses(rng, 60)
    now = 1_790_000_000.0
    for step in range(6_000):
        now += rng.expovariate(50.0)
        address = rng.choice(pool[:10]) if rng.random() < 0.5 else rng.choice(pool)
        outcome = rng.choice(list(Outcome))
        key_id = rng.choice([None, None, 7, 42])
        py.record(address, now, outcome, key_id)
        c.record(address, now, outcome, key_id)
        if step % 500 == 0:  # a flush: the same deltas, in the same order
            got, want = c.take_deltas(), py.take_deltas()
            assert got == want
        if step % 97 == 0:
            assert c.get(address) == py.get(address)
    assert c.entries() == py.entries()  # the same records in the same (LRU) order
    assert c.evicted == py.evicted > 0
    assert c.unsaved == py.unsaved > 0  # the delta table filled up between flushes
