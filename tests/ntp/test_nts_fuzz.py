"""Mutated NTS requests and NTS-KE messages through the pure code: no crash, no growth.

Bounded like test_fuzz.py: ORCH_NTS_FUZZ_PACKETS (default 60,000) and at most
ORCH_FUZZ_SECONDS / 3 seconds; seeded, so a failure repeats.
"""

from __future__ import annotations

import os
import random
import struct
import time

from orchestrator.ntp import nts, nts_ke
from orchestrator.ntp import packet as P
from orchestrator.ntp.nts_cookie import CookieJar, KeyRing
from orchestrator.ntp.server import Ignore, NtpServerCore, Respond, ServerPolicy, SystemState

COUNT = int(os.environ.get("ORCH_NTS_FUZZ_PACKETS", "60000"))
SECONDS = float(os.environ.get("ORCH_FUZZ_SECONDS", "90")) / 3
NOW_NS = 1_790_000_000 * 10**9
C2S, S2C = bytes(range(32)), bytes(range(32, 64))


def _seeds(jar: CookieJar, rng: random.Random) -> list[bytes]:
    seeds = []
    for placeholders in (0, 1, 7, 9):
        cookie = jar.make(C2S, S2C, rng.randbytes(16))
        header = P.client_request(rng.getrandbits(64)).encode()
        seeds.append(
            nts.client_request(
                header, rng.randbytes(32), cookie, C2S, rng.randbytes(16), placeholders
            )
        )
    # encrypted placeholders inside the authenticator, and an unknown field before it
    cookie = jar.make(C2S, S2C, rng.randbytes(16))
    head = P.client_request(7).encode() + nts.make_field(nts.UNIQUE_ID, rng.randbytes(40))
    head += nts.make_field(nts.COOKIE, cookie) + nts.make_field(0x7777, bytes(20))
    inner = nts.make_field(nts.COOKIE_PLACEHOLDER, bytes(len(cookie))) * 2
    seeds.append(head + nts.authenticator(head, C2S, rng.randbytes(16), inner))
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            del b[rng.randrange(len(b)) :]
        elif op == 2:
            b += rng.randbytes(rng.choice((4, 16, 20, 24, 36, 104)))
        elif op == 3 and len(b) > 52:  # an extension field header with a wild type or length
            at = 48 + 4 * rng.randrange((len(b) - 48) // 4)
            ftype = rng.choice((0x104, 0x204, 0x304, 0x404, rng.randrange(65536)))
            struct.pack_into("!HH", b, at, ftype, rng.choice((0, 4, 16, 36, 104, 65532)))
        elif op == 4 and len(b) > 60:  # authenticator nonce / ciphertext lengths
            struct.pack_into("!HH", b, len(b) - 4 * rng.randrange(1, 12), rng.randrange(65536),
                             rng.randrange(65536))  # fmt: skip
        elif op == 5 and len(b) > 100:  # drop or repeat a 4-octet word
            at = 48 + 4 * rng.randrange((len(b) - 48) // 4)
            b[at:at] = b[at : at + 4] if rng.random() < 0.5 else b""
            if len(b) > at + 4 and rng.random() < 0.5:
                del b[at : at + 4]
        elif op == 6 and b:
            b[0] = rng.choice((0x23, 0x1B, 0x21, 0xE3, rng.randrange(256)))
    return bytes(b)


def test_mutated_nts_requests() -> None:
    rng = random.Random(8915)
    ring = KeyRing.new(NOW_NS / 1e9, rng.randbytes, 3600, 2)
    state = SystemState(leap=0, stratum=2, ref_id=b"\x7f\x00\x00\x01", ref_time_ns=NOW_NS,
                        root_delay_s=0.001, root_dispersion_s=0.001, precision=-20)  # fmt: skip
    core = NtpServerCore(ServerPolicy(ratelimit=None, nts_keys=ring), state, rng.randbytes)
    seeds = _seeds(CookieJar(ring), rng)
    for seed in seeds:  # the seeds themselves are answered with NTS
        out = core.handle("127.0.0.1", NOW_NS, seed, lambda: NOW_NS, 1)
        assert isinstance(out, Respond) and len(out.data) == len(seed)
    answered = naks = done = 0
    deadline = time.monotonic() + SECONDS
    for done in range(1, COUNT + 1):
        data = _mutate(rng, rng.choice(seeds))
        out = core.handle("127.0.0.1", NOW_NS + done, data, lambda: NOW_NS, rng.getrandbits(96))
        if isinstance(out, Respond):
            assert len(out.data) <= len(data), data.hex()
            reply = P.decode(out.data)  # always a well-formed packet
            assert reply.mode in (2, 4)  # mode 2: symmetric active without NTS fields
            if reply.kiss_code == "NTSN":
                naks += 1
                (uid,) = reply.extensions  # the identifier only, nothing else
                assert uid.field_type == nts.UNIQUE_ID
            elif reply.extensions:
                answered += 1
                assert reply.extensions[-1].field_type == nts.AUTHENTICATOR
        else:
            assert isinstance(out, Ignore)
        if done % 4096 == 0 and time.monotonic() > deadline:
            break
    print(f"nts fuzz: {done} requests, {answered} NTS replies, {naks} NAKs")
    assert done >= min(COUNT, 10_000)
    assert answered > 0 and naks > 0 and core.counters["dropped-nts-malformed"] > 0


def test_mutated_nts_ke_messages() -> None:
    rng = random.Random(4460)
    rec = nts_ke.encode_record
    seeds = [
        nts_ke.request(),
        nts_ke.request((0, 0x8001), (30, 15)),
        rec(1, b"\x00\x00") + rec(4, b"\x00\x0f") + rec(7, b"\x00\x7b") + rec(6, b"ntp") + rec(0),
    ]
    outcomes: set[str] = set()
    deadline = time.monotonic() + SECONDS
    for done in range(1, 30_001):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            if not data:
                break
            i = rng.randrange(len(data))
            op = rng.randrange(4)
            if op == 0:
                data[i] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[i:]
            elif op == 2:
                data[i:i] = rng.randbytes(rng.randrange(1, 9))
            else:
                data[i] = rng.randrange(256)
        try:
            records = nts_ke.read_message(bytes(data))
        except nts_ke.KeError:
            outcomes.add("bad")
            continue
        if records is None:
            outcomes.add("incomplete")
            continue
        neg = nts_ke.negotiate(records)
        answer = nts_ke.read_message(nts_ke.response(neg, [bytes(100)] * 8 if neg.ok else []))
        assert answer is not None  # every answer is a well-formed message
        outcomes.add("ok" if neg.ok else f"error-{neg.error}")
        if done % 1024 == 0 and time.monotonic() > deadline:
            break
    assert {"bad", "incomplete", "ok", "error-1", "error-0"} <= outcomes, outcomes
