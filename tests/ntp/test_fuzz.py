"""A million mutated datagrams through handle(): no crash, no amplification, no mode 6/7 reply.

Pure and in-process (no sockets). The count is ORCH_FUZZ_PACKETS (default 1,000,000);
the loop also stops at ORCH_FUZZ_SECONDS (default 90 s) so a slow machine cannot hang
the suite, and the test says how many it got through.
"""

from __future__ import annotations

import os
import random
import struct
import time

from orchestrator.ntp import packet as P
from orchestrator.ntp.access import AccessList
from orchestrator.ntp.auth import KeyStore, SymmetricKey
from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.ntp.server import Ignore, NtpServerCore, Respond, ServerPolicy, SystemState

COUNT = int(os.environ.get("ORCH_FUZZ_PACKETS", "1000000"))
SECONDS = float(os.environ.get("ORCH_FUZZ_SECONDS", "90"))
NOW_NS = 1_790_000_000 * 10**9

KEYS = KeyStore(
    [
        SymmetricKey(1, "md5", b"fuzz-md5"),
        SymmetricKey(2, "sha1", b"fuzz-sha1"),
        SymmetricKey(3, "aes128", bytes(16)),
    ]
)


def _seeds() -> list[bytes]:
    base = P.client_request(0xE000000012345678, poll=6).encode()
    ef = P.ExtensionField(0x0104, bytes(range(28)))
    seeds = [
        base,
        P.client_request(1, version=3, mode=1).encode(),  # old Windows symmetric active
        P.client_request(1, version=1).encode(),
        KEYS[1].sign(base),
        KEYS[2].sign(base),
        KEYS[3].sign(base),
        P.NtpPacket(mode=3, extensions=(ef,)).encode(),
        P.encode(P.NtpPacket(mode=3, extensions=(ef,), mac=P.Mac(1, bytes(16))), include_mac=False)
        + b"\x00\x00\x00\x01"
        + bytes(16),
        bytes([0x16, 0x02, 0x00, 0x01]) + bytes(8),  # mode 6 READSTAT (ntpq), 12 octets
        bytes([0x17, 0x00, 0x03, 0x2A]) + bytes(188),  # mode 7 MON_GETLIST_1 (monlist)
        bytes([0x1E]) + bytes(47),  # mode 6, header-sized
        bytes([0x1F]) + bytes(47),  # mode 7, header-sized
    ]
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and b:  # flip bits
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:  # random byte
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:  # first octet: LI/VN/mode
            if b:
                b[0] = rng.randrange(256)
        elif op == 3 and b:  # truncate
            del b[rng.randrange(len(b)) :]
        elif op == 4:  # append junk
            b += rng.randbytes(rng.choice((1, 2, 4, 8, 16, 20, 24, 28, 64)))
        elif op == 5 and len(b) >= 52:  # plausible extension field header with a wild length
            struct.pack_into("!HH", b, 48, rng.randrange(65536), rng.randrange(65536))
        elif op == 6:  # entirely random datagram
            b = bytearray(rng.randbytes(rng.randrange(0, 120)))
        elif op == 7 and len(b) >= 52:  # key id
            struct.pack_into("!I", b, 48, rng.choice((0, 1, 2, 3, 4, 0xFFFFFFFF)))
    return bytes(b)


def test_a_million_mutated_packets() -> None:
    state = SystemState(leap=0, stratum=2, ref_id=b"\x7f\x00\x00\x01", ref_time_ns=NOW_NS,
                        root_delay_s=0.001, root_dispersion_s=0.001, precision=-20)  # fmt: skip
    core = NtpServerCore(
        ServerPolicy(
            access=AccessList.from_rules(["127.0.0.0/8"]),
            ratelimit=RateLimitConfig(interval=-4, burst=16),
            keys=KEYS,
            deny_kod=True,
        ),
        state,
    )
    rng = random.Random(5905)
    seeds = _seeds()
    clock = lambda: NOW_NS + 10_000  # noqa: E731 - the fake clock
    clients = ["127.0.0.1", "127.0.0.2", "192.0.2.9", "::1"]  # two allowed, two denied
    replies = kods = 0
    deadline = time.monotonic() + SECONDS
    done = 0
    for done in range(1, COUNT + 1):
        data = _mutate(rng, rng.choice(seeds))
        out = core.handle(
            clients[done & 3], NOW_NS + done * 20_000_000, data, clock, rng.getrandbits(96)
        )
        if type(out) is Respond:
            assert len(out.data) <= len(data), data.hex()
            assert data[0] & 7 in (1, 3), data.hex()  # never modes 0, 2, 4, 5, 6, 7
            reply = P.decode(out.data)
            assert reply.mode in (2, 4)
            replies += 1
            kods += reply.is_kod
        else:
            assert isinstance(out, Ignore)
        if done & 0xFFFF == 0 and time.monotonic() > deadline:
            break
    print(f"fuzz: {done} packets, {replies} replies ({kods} KoD)")
    assert done >= min(COUNT, 200_000), f"only {done} packets in {SECONDS} s"
    assert replies > 0 and kods > 0  # the mutations do reach the reply paths
    assert core.counters["received"] == done
