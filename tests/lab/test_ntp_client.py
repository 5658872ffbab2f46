"""orchestrator.ntp.client: the sans-I/O client, driven with packets built by the codec."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.ntp import client, packet, timestamps
from orchestrator.ntp.auth import SymmetricKey
from orchestrator.ntp.client import ClientSystem, PeerAssociation, PollConfig

T0 = 1_790_000_000.0  # some Unix time in 2026


def server_reply(
    request: bytes,
    *,
    server_offset_s: float,
    t_request: float,
    one_way_s: float = 0.001,
    stratum: int = 2,
    leap: int = packet.LEAP_NONE,
    ref_id: bytes = b"\x7f\x00\x00\x01",
) -> tuple[bytes, float]:
    """What a correct server whose clock is `server_offset_s` ahead of ours answers.

    Returns the reply and the local arrival time (T4).
    """
    req = packet.decode(request)
    t2 = t_request + one_way_s + server_offset_s
    t3 = t2 + 0.0001
    reply = packet.NtpPacket(
        leap=leap,
        version=req.version,
        mode=packet.MODE_SERVER,
        stratum=stratum,
        poll=req.poll,
        precision=-20,
        root_delay=timestamps.short_from_s(0.002),
        root_dispersion=timestamps.short_from_s(0.003),
        ref_id=ref_id,
        ref_ts=timestamps.from_unix_s(t2 - 10),
        origin_ts=req.transmit_ts,
        receive_ts=timestamps.from_unix_s(t2),
        transmit_ts=timestamps.from_unix_s(t3),
    )
    t4 = t3 - server_offset_s + one_way_s
    return reply.encode(), t4


def poll_once(peer: PeerAssociation, now: float, **kw: object) -> client.ReplyOutcome:
    request = peer.make_request(now)
    data, t4 = server_reply(request, t_request=now, **kw)  # type: ignore[arg-type]
    return peer.receive(data, t4)


def test_request_is_mode3_with_remembered_transmit_timestamp() -> None:
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20)
    req = packet.decode(peer.make_request(T0))
    assert req.mode == packet.MODE_CLIENT and req.version == 4
    assert abs(timestamps.to_unix_s(req.transmit_ts) - T0) < 1e-5
    assert req.origin_ts == 0 and req.receive_ts == 0


def test_reach_register_is_377_after_eight_answered_polls_and_shifts_out_misses() -> None:
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20)
    now = T0
    for _ in range(8):
        assert poll_once(peer, now, server_offset_s=0.0).accepted
        now += 64
    assert peer.reach == 0o377
    peer.make_request(now)  # unanswered
    assert peer.reach == 0o376
    for _ in range(6):
        now += 64
        peer.make_request(now)
    assert peer.reach == 0o200  # the last answered poll is about to leave the register
    peer.make_request(now + 64)
    assert peer.reach == 0 and not peer.reachable


def test_offset_and_delay_are_the_on_wire_values() -> None:
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20)
    outcome = poll_once(peer, T0, server_offset_s=-0.25, one_way_s=0.002)
    assert outcome.accepted and outcome.sample is not None
    assert outcome.sample.offset_s == pytest.approx(-0.25, abs=1e-6)
    assert outcome.sample.delay_s == pytest.approx(0.004, abs=1e-6)


def test_clock_filter_takes_the_minimum_delay_sample() -> None:
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20)
    delays = [0.010, 0.002, 0.030]
    offsets = [0.5, 0.1, -0.4]
    for i, (d, o) in enumerate(zip(delays, offsets, strict=True)):
        poll_once(peer, T0 + 64 * i, server_offset_s=o, one_way_s=d / 2)
    assert peer.filter.delay_s == pytest.approx(0.002, abs=1e-6)
    assert peer.filter.offset_s == pytest.approx(0.1, abs=1e-6)
    assert peer.filter.jitter_s > 0.3  # the RMS of the other samples' distance to 0.1


def test_bogus_duplicate_and_unsynchronised_replies_are_rejected() -> None:
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20)
    request = peer.make_request(T0)
    good, t4 = server_reply(request, server_offset_s=0.0, t_request=T0)
    forged = packet.decode(good)
    forged = dataclasses.replace(forged, origin_ts=forged.origin_ts ^ 1)
    assert peer.receive(forged.encode(), t4).reason == "bogus"
    assert peer.receive(good, t4).accepted
    assert peer.receive(good, t4).reason == "duplicate"
    request = peer.make_request(T0 + 64)
    unsynced, t4 = server_reply(
        request, server_offset_s=0.0, t_request=T0 + 64, leap=packet.LEAP_UNSYNCHRONISED
    )
    assert peer.receive(unsynced, t4).reason == "unsynchronised server"
    assert peer.reach & 1 == 0


def test_kod_rate_backs_off_and_deny_stops() -> None:
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20)
    interval = peer.poll_interval_s
    req = packet.decode(peer.make_request(T0))
    rate = packet.kiss_of_death(req, packet.KISS_RATE).encode()
    assert peer.receive(rate, T0 + 0.01).reason == "kod RATE"
    assert peer.poll_interval_s == 2 * interval
    assert peer.next_poll_s == pytest.approx(T0 + 0.01 + 2 * interval)
    assert peer.reach == 0  # a kiss is no answer
    req = packet.decode(peer.make_request(T0 + 128))
    deny = packet.kiss_of_death(req, packet.KISS_DENY).encode()
    assert peer.receive(deny, T0 + 128.01).reason == "kod DENY"
    assert peer.stopped == "DENY"
    assert not peer.due(T0 + 10_000)


def test_iburst_and_interval_override_schedule() -> None:
    peer = PeerAssociation(
        "127.0.0.1", 123, PollConfig(iburst=True, interval_override_s=0.5), now_s=T0, precision=-20
    )
    peer.make_request(T0)  # unanswered: burst spacing applies, capped by the override
    assert peer.next_poll_s == pytest.approx(T0 + 0.5)
    slow = PeerAssociation("127.0.0.1", 123, PollConfig(minpoll=6), now_s=T0, precision=-20)
    poll_once(slow, T0, server_offset_s=0.0)
    assert slow.next_poll_s == pytest.approx(T0 + 64)


def test_selection_marks_sys_peer_candidates_and_falseticker() -> None:
    system = ClientSystem(precision=-20)
    offsets = {"127.0.0.1": 0.001, "127.0.0.2": 0.002, "127.0.0.3": 5.0}
    peers = {a: system.add_server(a, 123, PollConfig(), now_s=T0) for a in offsets}
    now = T0
    for _ in range(4):
        for address, peer in peers.items():
            poll_once(peer, now, server_offset_s=offsets[address])
        now += 64
    chosen = system.select(now)
    assert chosen is not None and chosen.address in ("127.0.0.1", "127.0.0.2")
    assert peers["127.0.0.3"].tally == client.TALLY_FALSETICKER
    assert {p.tally for a, p in peers.items() if a != "127.0.0.3"} == {"*", "+"}
    status = system.status(now)
    assert status.synchronized and status.stratum == 3 and status.reference == chosen.address


def test_prefer_peer_wins_and_no_reply_means_no_sys_peer() -> None:
    system = ClientSystem(precision=-20)
    a = system.add_server("127.0.0.1", 123, PollConfig(), now_s=T0)
    b = system.add_server("127.0.0.2", 123, PollConfig(prefer=True), now_s=T0)
    assert system.select(T0) is None and not system.status(T0).synchronized
    for i in range(3):
        poll_once(a, T0 + 64 * i, server_offset_s=0.0, stratum=1)
        poll_once(b, T0 + 64 * i, server_offset_s=0.0005, stratum=2)
    assert system.select(T0 + 200) is b


def test_keyed_association_signs_requests_and_needs_signed_replies() -> None:
    key = SymmetricKey(10, "sha1", b"lab-shared-secret")
    peer = PeerAssociation("127.0.0.1", 123, PollConfig(), now_s=T0, precision=-20, key=key)
    request = peer.make_request(T0)
    decoded = packet.decode(request)
    assert decoded.mac is not None and decoded.mac.key_id == 10
    assert key.verify(request[: packet.mac_offset(request, decoded)], decoded.mac.digest)
    unsigned, t4 = server_reply(request, server_offset_s=0.0, t_request=T0)
    assert peer.receive(unsigned, t4).reason == "auth"
    signed = key.sign(unsigned)
    assert peer.receive(signed, t4).accepted
    other = SymmetricKey(10, "sha1", b"not-the-secret")
    request = peer.make_request(T0 + 64)
    forged, t4 = server_reply(request, server_offset_s=0.0, t_request=T0 + 64)
    assert peer.receive(other.sign(forged), t4).reason == "auth"
