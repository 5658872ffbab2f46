"""Access lists, token buckets and the client log: the bookkeeping behind handle()."""

from __future__ import annotations

import pytest

from orchestrator.ntp.access import AccessControl, AccessList, AccessRuleError
from orchestrator.ntp.clientlog import ClientLog, Outcome
from orchestrator.ntp.ratelimit import RateDecision, RateLimitConfig, RateLimiter

# the rate limiter and client log in pure Python, and as the C tables (conftest.py)
pytestmark = pytest.mark.usefixtures("state_tables")


def test_most_specific_rule_wins_and_default_is_deny() -> None:
    acl = AccessControl(
        AccessList.from_rules(["10.0.0.0/8", "10.1.2.0/24", "all"], ["10.1.0.0/16", "0.0.0.0/0"])
    )
    assert acl.permits("10.9.9.9")  # /8 allow
    assert not acl.permits("10.1.9.9")  # /16 deny beats /8 allow
    assert acl.permits("10.1.2.3")  # /24 allow beats /16 deny
    assert not acl.permits("192.0.2.1")  # tie at /0: deny wins
    assert acl.permits("2001:db8::1")  # "all" includes ::/0, no v6 deny
    assert not AccessControl(AccessList.from_rules([])).permits("127.0.0.1")
    assert not acl.permits("not-an-address")


def test_bad_rule_is_reported() -> None:
    with pytest.raises(AccessRuleError, match=r"10\.0\.0\.300"):
        AccessList.from_rules(["10.0.0.300/8"])


def test_access_cache_is_bounded() -> None:
    acl = AccessControl(AccessList.from_rules(["127.0.0.0/8"]), cache_size=10)
    for i in range(100):
        assert acl.permits(f"127.0.0.{i}")
    assert len(acl.cache) <= 10


def test_token_bucket_burst_then_interval() -> None:
    rl = RateLimiter(RateLimitConfig(interval=1, burst=3, leak=0, kod=False))
    got = [rl.check("a", 0.0) for _ in range(4)]
    assert got == [RateDecision.PASS] * 3 + [RateDecision.DROP]
    assert rl.check("a", 1.0) is RateDecision.DROP  # half a token after 1 s
    assert rl.check("a", 2.0) is RateDecision.PASS  # a whole one after 2**1 s
    assert rl.check("b", 2.0) is RateDecision.PASS  # other clients unaffected


def test_leak_lets_one_in_2_pow_leak_through() -> None:
    rl = RateLimiter(RateLimitConfig(interval=10, burst=1, leak=2, kod=False))
    rl.check("a", 0.0)
    got = [rl.check("a", 0.0, random_bits=i) for i in range(16)]
    assert got.count(RateDecision.LEAK) == 4


def test_kods_are_themselves_limited() -> None:
    rl = RateLimiter(RateLimitConfig(interval=2, burst=1, leak=0))
    rl.check("a", 0.0)
    got = [rl.check("a", t / 10) for t in range(1, 60)]  # 5.9 s of flooding
    assert got.count(RateDecision.KOD) == 2  # at 0.1 s and 4.1 s: one per 2**2 s
    assert got.count(RateDecision.PASS) == 1  # the token earned back at 4.0 s
    assert got.count(RateDecision.DROP) == 56


def test_rate_limiter_memory_is_bounded_lru() -> None:
    rl = RateLimiter(RateLimitConfig(burst=1, leak=0, kod=False, max_clients=100))
    rl.check("hot", 0.0)
    for i in range(1000):
        rl.check(f"spoof{i}", 0.0)
        if i % 50 == 0:
            rl.check("hot", 0.0)  # keeps "hot" recently used: its empty bucket survives
    assert len(rl) == 100 and rl.evicted == 901
    assert rl.check("hot", 0.0) is RateDecision.DROP


def test_clientlog_counts_and_bounds() -> None:
    log = ClientLog(max_clients=3)
    log.record("a", 10.0, Outcome.RESPONDED, key_id=1)
    log.record("a", 12.0, Outcome.KOD)
    log.record("a", 13.0, Outcome.DROPPED)
    e = log.get("a")
    assert e is not None
    assert (e.first_seen, e.last_seen, e.requests, e.responses, e.kods, e.drops, e.key_id) == (
        10.0, 13.0, 3, 1, 1, 1, 1,
    )  # fmt: skip
    for name in "bcd":
        log.record(name, 20.0, Outcome.RESPONDED)
    assert len(log) == 3 and log.get("a") is None and log.evicted == 1
    assert [d.address for d in log.take_deltas()] == ["a", "b", "c"]  # "d" did not fit
    assert log.unsaved == 1
    assert log.take_deltas() == []
