"""A sans-I/O NTP client: peer associations and the system process (RFC 5905 §8-§13).

Pure protocol logic. The caller owns the socket and the clock and passes both in:

    system = ClientSystem(precision=-20)
    peer = system.add_server("127.0.0.1", config=PollConfig(iburst=True))
    # every tick:
    for peer in system.due(now_s):
        sock.sendto(peer.make_request(now_s), (peer.address, peer.port))
    # on every datagram from (addr, port), stamped with the local clock on arrival:
    outcome = system.receive(addr, port, data, arrival_s)
    system.select(arrival_s)
    system.sys_peer            # the PeerAssociation selected, or None
    system.status(now_s)       # synchronised?, stratum, reference, offset, root delay ...

All times are the *local* clock in Unix seconds (floats): the clock being disciplined
or simulated. Nothing here reads a clock, sleeps or touches a socket; nothing here
steers the clock either (the caller may use `status().offset_s` to do so).

What it implements:
  * poll scheduling: 2**hpoll seconds with minpoll <= hpoll <= maxpoll, a burst of 8
    packets two seconds apart while unreachable when `iburst` is set (§13), and an
    optional fixed `interval_override_s` so a lab converges in seconds;
  * request building with the codec (mode 3, the transmit timestamp remembered);
  * reply validation (§8, §9.2): server mode, version, bogus (origin != our last
    transmit), duplicate, zero timestamps, unsynchronised server, root distance;
    kiss-o'-death: RATE doubles the poll interval, DENY and RSTR stop the association;
  * symmetric-key authentication (legacy MAC, RFC 8573 AES-CMAC, via ntp.auth): with a
    key, requests carry a MAC and only replies with a valid MAC under that key count;
    with `require_auth` an association without a usable key never counts (IOS
    `ntp authenticate`);
  * the 8-bit reach register (shifted at each poll, bit 0 set by a good reply, so
    0o377 after eight answered polls);
  * on-wire offset/delay/dispersion (§8) and the 8-stage clock filter (§10): the
    minimum-delay sample wins, dispersion is the weighted sum, jitter the RMS of
    offset differences;
  * selection (§11.2): fit peers -> intersection (falsetickers `x`) -> clustering
    (outliers `-`) -> sys.peer `*` (prefer peer first), other survivors `+`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from orchestrator.ntp import onwire, packet, timestamps
from orchestrator.ntp.auth import SymmetricKey

# RFC 5905 §7.2 / Figure 6 constants.
PHI = 15e-6  # frequency tolerance, s/s
NSTAGE = 8  # clock filter stages
MAXDISP = 16.0  # maximum dispersion, s
MAXDIST = 1.5  # distance threshold for selection, s
MINDISP = 0.005  # minimum dispersion increment, s
NMIN = 3  # minimum survivors the clustering keeps
MAXSTRAT = 16
MINPOLL = 6  # 64 s
MAXPOLL = 10  # 1024 s
BURST_COUNT = 8
BURST_SPACING_S = 2.0

# Tally codes, as printed by ntpq and IOS `show ntp associations`.
TALLY_SYS_PEER = "*"
TALLY_CANDIDATE = "+"
TALLY_OUTLIER = "-"
TALLY_FALSETICKER = "x"
TALLY_REJECT = " "


def log2d(exponent: int) -> float:
    """2**exponent as seconds (RFC 5905 LOG2D)."""
    return math.ldexp(1.0, exponent)


@dataclass(frozen=True)
class PollConfig:
    """How one association polls."""

    minpoll: int = MINPOLL
    maxpoll: int = MAXPOLL
    iburst: bool = False
    prefer: bool = False
    version: int = 4
    # Fixed poll interval in seconds instead of 2**hpoll (labs and tests).
    interval_override_s: float | None = None

    def __post_init__(self) -> None:
        if not 3 <= self.minpoll <= self.maxpoll <= 17:
            raise ValueError("need 3 <= minpoll <= maxpoll <= 17")
        if self.interval_override_s is not None and self.interval_override_s <= 0:
            raise ValueError("interval_override_s must be > 0")


@dataclass(frozen=True)
class Sample:
    """One clock filter stage (RFC 5905 §10)."""

    offset_s: float
    delay_s: float
    dispersion_s: float
    time_s: float  # local time the sample was taken


@dataclass(frozen=True)
class ReplyOutcome:
    """What became of one received datagram."""

    accepted: bool
    reason: str  # "ok" or why it was dropped: "bogus", "duplicate", "kod RATE", ...
    sample: Sample | None = None


@dataclass
class ClockFilter:
    """The 8-stage clock filter of one association (RFC 5905 §10, Figure 23)."""

    stages: list[Sample] = field(default_factory=list)
    offset_s: float = 0.0
    delay_s: float = 0.0
    dispersion_s: float = MAXDISP
    jitter_s: float = 0.0
    last_update_s: float | None = None

    def add(self, sample: Sample, sys_precision: int) -> None:
        if self.last_update_s is not None:
            age = PHI * max(0.0, sample.time_s - self.last_update_s)
            self.stages = [
                Sample(s.offset_s, s.delay_s, s.dispersion_s + age, s.time_s) for s in self.stages
            ]
        self.stages = [sample, *self.stages][:NSTAGE]
        self.last_update_s = sample.time_s
        # Sort by delay; stages whose dispersion reached MAXDISP go last (Figure 23).
        ordered = sorted(
            self.stages, key=lambda s: (s.dispersion_s >= MAXDISP, s.delay_s, -s.time_s)
        )
        best = ordered[0]
        self.offset_s = best.offset_s
        self.delay_s = best.delay_s
        self.dispersion_s = sum(s.dispersion_s / 2 ** (i + 1) for i, s in enumerate(ordered))
        valid = [s for s in ordered if s.dispersion_s < MAXDISP]
        if len(valid) > 1:
            sq = sum((s.offset_s - best.offset_s) ** 2 for s in valid[1:])
            jitter = math.sqrt(sq / (len(valid) - 1))
        else:
            jitter = 0.0
        self.jitter_s = max(jitter, log2d(sys_precision))

    @property
    def valid(self) -> bool:
        return any(s.dispersion_s < MAXDISP for s in self.stages)


class PeerAssociation:
    """One server we poll: its schedule, reach register, last header and clock filter."""

    def __init__(
        self,
        address: str,
        port: int,
        config: PollConfig,
        *,
        now_s: float = 0.0,
        precision: int,
        key: SymmetricKey | None = None,
        require_auth: bool | None = None,
    ) -> None:
        self.address = address
        self.port = port
        self.config = config
        self.key = key  # signs every request when set
        # Must replies carry a valid MAC under `key`? Default: yes whenever there is a key.
        self.require_auth = key is not None if require_auth is None else require_auth
        self._sys_precision = precision
        self.hpoll = config.minpoll
        self.reach = 0  # the 8-bit reach register
        self.filter = ClockFilter()
        self.tally = TALLY_REJECT
        self.stopped: str | None = None  # kiss code that demobilised us (DENY/RSTR)
        self.kod_backoff = 0  # extra poll exponent from RATE kisses
        # Last header values from the server.
        self.leap = packet.LEAP_UNSYNCHRONISED
        self.stratum = MAXSTRAT
        self.ref_id = b"INIT"
        self.root_delay_s = 0.0
        self.root_dispersion_s = 0.0
        self.precision = 0
        self.last_reply_s: float | None = None  # local time of the last good reply
        self.sent = 0
        self.received = 0
        self.dropped: dict[str, int] = {}
        self._expected_origin: int | None = None
        self._last_server_xmt: int | None = None
        self._burst_left = BURST_COUNT if config.iburst else 0
        self.next_poll_s = now_s  # poll at once

    # ------------------------------------------------------------------ schedule

    @property
    def poll_interval_s(self) -> float:
        """Seconds between polls in steady state (what `show ntp associations` prints)."""
        if self.config.interval_override_s is not None:
            return self.config.interval_override_s * (1 << self.kod_backoff)
        return log2d(min(self.hpoll + self.kod_backoff, 17))

    def due(self, now_s: float) -> bool:
        return self.stopped is None and now_s >= self.next_poll_s

    def make_request(self, now_s: float, *, random_bits: int = 0) -> bytes:
        """Build the mode-3 request for a poll at `now_s` and advance the schedule.

        Shifts the reach register (§13 poll): a reply to this request sets bit 0 again.
        `random_bits` fill the transmit timestamp below the system precision (§6),
        making the origin hard to guess for an off-path attacker.
        """
        if self.reach and not (self.reach & 0x07):
            # Three polls unanswered: push a dummy sample so dispersion grows (§13).
            self.filter.add(Sample(0.0, 0.0, MAXDISP, now_s), self._sys_precision)
        self.reach = (self.reach << 1) & 0xFF
        xmt = timestamps.fuzz(timestamps.from_unix_s(now_s), self._sys_precision, random_bits)
        self._expected_origin = xmt
        self.sent += 1
        poll_field = min(self.hpoll + self.kod_backoff, 17)
        request = packet.client_request(xmt, version=self.config.version, poll=poll_field)
        wire = request.encode()
        if self.key is not None:
            wire = self.key.sign(wire)
        if self._burst_left > 0 and self.reach == 0:
            self._burst_left -= 1
            spacing = BURST_SPACING_S
            if self.config.interval_override_s is not None:
                spacing = min(spacing, self.config.interval_override_s)
            self.next_poll_s = now_s + spacing
        else:
            self.next_poll_s = now_s + self.poll_interval_s
        return wire

    # ------------------------------------------------------------------ receive

    def _drop(self, reason: str) -> ReplyOutcome:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return ReplyOutcome(False, reason)

    def receive(self, data: bytes, arrival_s: float) -> ReplyOutcome:
        """Validate one reply stamped with the local time of arrival (T4)."""
        try:
            reply = packet.decode(data)
        except packet.PacketError:
            return self._drop("malformed")
        if reply.mode != packet.MODE_SERVER:
            return self._drop("mode")
        if not 1 <= reply.version <= 4:
            return self._drop("version")
        if self._last_server_xmt is not None and reply.transmit_ts == self._last_server_xmt:
            return self._drop("duplicate")
        if self._expected_origin is None or reply.origin_ts != self._expected_origin:
            return self._drop("bogus")
        if not self._authentic(data, reply):
            return self._drop("auth")
        if reply.is_kod:
            return self._kiss(reply.kiss_code or "", arrival_s)
        if reply.receive_ts == 0 or reply.transmit_ts == 0:
            return self._drop("zero timestamp")
        # The origin matched: this request is answered, never accept another reply to it.
        self._expected_origin = None
        self._last_server_xmt = reply.transmit_ts
        self.received += 1
        self.leap = reply.leap
        self.stratum = reply.stratum
        self.ref_id = reply.ref_id
        self.root_delay_s = reply.root_delay_s
        self.root_dispersion_s = reply.root_dispersion_s
        self.precision = reply.precision
        if reply.leap == packet.LEAP_UNSYNCHRONISED or reply.stratum >= MAXSTRAT:
            return self._drop("unsynchronised server")
        if reply.root_delay_s / 2 + reply.root_dispersion_s >= MAXDISP:
            return self._drop("root distance")
        t1 = reply.origin_ts
        t4 = timestamps.from_unix_s(arrival_s)
        wire = onwire.measure(t1, reply.receive_ts, reply.transmit_ts, t4)
        delay = max(wire.delay_s, log2d(self._sys_precision))
        disp = (
            log2d(reply.precision)
            + log2d(self._sys_precision)
            + PHI * abs(timestamps.diff_s(t4, t1))
        )
        sample = Sample(wire.offset_s, delay, disp, arrival_s)
        self.filter.add(sample, self._sys_precision)
        self.reach |= 1
        self.last_reply_s = arrival_s
        return ReplyOutcome(True, "ok", sample)

    def _authentic(self, data: bytes, reply: packet.NtpPacket) -> bool:
        """Does the reply carry a valid MAC under our key (when one is needed)?"""
        if not self.require_auth:
            return True
        if self.key is None:
            return False
        mac = reply.mac
        if mac is None or mac.key_id != self.key.key_id:
            return False
        return self.key.verify(data[: packet.mac_offset(data, reply)], mac.digest)

    def _kiss(self, code: str, arrival_s: float) -> ReplyOutcome:
        self._expected_origin = None
        if code == "RATE":
            # Back off: double the interval (bounded by maxpoll in the protocol schedule),
            # stop any burst, and wait a whole new interval from now.
            if self.config.interval_override_s is not None:
                self.kod_backoff = min(self.kod_backoff + 1, 6)
            else:
                self.kod_backoff = min(self.kod_backoff + 1, self.config.maxpoll - self.hpoll)
            self._burst_left = 0
            self.next_poll_s = arrival_s + self.poll_interval_s
        elif code in ("DENY", "RSTR"):
            self.stopped = code
            self.tally = TALLY_REJECT
        return self._drop(f"kod {code or '?'}")

    # ------------------------------------------------------------------ derived

    @property
    def reachable(self) -> bool:
        return self.reach != 0

    def root_distance_s(self, now_s: float) -> float:
        """λ = (δ + Δ)/2 + ε + Φ·age + ψ (RFC 5905 §11.2.2, root_dist)."""
        age = 0.0 if self.filter.last_update_s is None else now_s - self.filter.last_update_s
        return (
            max(MINDISP, self.root_delay_s + self.filter.delay_s) / 2
            + self.root_dispersion_s
            + self.filter.dispersion_s
            + PHI * max(0.0, age)
            + self.filter.jitter_s
        )

    def fit(self, now_s: float) -> bool:
        """May this peer be selected (RFC 5905 §11.2 fit)?"""
        return (
            self.stopped is None
            and self.reachable
            and self.filter.valid
            and self.leap != packet.LEAP_UNSYNCHRONISED
            and 0 < self.stratum < MAXSTRAT
            and self.root_distance_s(now_s) < MAXDIST + PHI * log2d(self.hpoll)
        )

    def when_s(self, now_s: float) -> float | None:
        """Seconds since the last good reply, None if none yet."""
        return None if self.last_reply_s is None else max(0.0, now_s - self.last_reply_s)


@dataclass(frozen=True)
class SystemStatus:
    """The system variables (RFC 5905 §11.2.3) as `show ntp status` reports them."""

    synchronized: bool
    stratum: int
    reference: str | None  # address of the sys.peer
    ref_id: bytes
    offset_s: float
    jitter_s: float
    root_delay_s: float
    root_dispersion_s: float
    reference_time_s: float | None  # local time of the last system update
    leap: int
    poll: int
    peer_dispersion_s: float = 0.0  # the sys.peer's clock filter dispersion


class ClientSystem:
    """All associations of one client and the selection among them."""

    def __init__(self, precision: int = -20) -> None:
        self.precision = precision
        self.peers: dict[tuple[str, int], PeerAssociation] = {}
        self.sys_peer: PeerAssociation | None = None
        self._update_s: float | None = None

    def add_server(
        self,
        address: str,
        port: int = 123,
        config: PollConfig | None = None,
        *,
        now_s: float = 0.0,
        key: SymmetricKey | None = None,
        require_auth: bool | None = None,
    ) -> PeerAssociation:
        """Add (or keep, when nothing changed) the association with `address:port`."""
        wanted = config or PollConfig()
        existing = self.peers.get((address, port))
        if (
            existing is not None
            and existing.config == wanted
            and existing.key == key
            and existing.require_auth == (key is not None if require_auth is None else require_auth)
        ):
            return existing
        peer = PeerAssociation(
            address,
            port,
            wanted,
            now_s=now_s,
            precision=self.precision,
            key=key,
            require_auth=require_auth,
        )
        self.peers[(address, port)] = peer
        return peer

    def remove_server(self, address: str, port: int = 123) -> None:
        peer = self.peers.pop((address, port), None)
        if peer is not None and peer is self.sys_peer:
            self.sys_peer = None

    def due(self, now_s: float) -> list[PeerAssociation]:
        return [p for p in self.peers.values() if p.due(now_s)]

    def next_wakeup_s(self) -> float | None:
        times = [p.next_poll_s for p in self.peers.values() if p.stopped is None]
        return min(times) if times else None

    def receive(self, address: str, port: int, data: bytes, arrival_s: float) -> ReplyOutcome:
        peer = self.peers.get((address, port))
        if peer is None:
            return ReplyOutcome(False, "no association")
        return peer.receive(data, arrival_s)

    # ------------------------------------------------------------------ selection

    def select(self, now_s: float) -> PeerAssociation | None:
        """Run selection and clustering; set every peer's tally and the sys.peer."""
        peers = list(self.peers.values())
        for p in peers:
            p.tally = TALLY_REJECT
        fit = [p for p in peers if p.fit(now_s)]
        truechimers = self._intersection(fit, now_s)
        for p in fit:
            if p not in truechimers:
                p.tally = TALLY_FALSETICKER
        survivors = self._cluster(truechimers, now_s)
        for p in truechimers:
            p.tally = TALLY_CANDIDATE if p in survivors else TALLY_OUTLIER
        chosen: PeerAssociation | None = None
        if survivors:
            preferred = [p for p in survivors if p.config.prefer]
            # Keep the current sys.peer while it survives (ntpd's anti-clockhop rule).
            if preferred:
                chosen = preferred[0]
            elif self.sys_peer in survivors:
                chosen = self.sys_peer
            else:
                chosen = survivors[0]
            chosen.tally = TALLY_SYS_PEER
        if chosen is not None and (
            chosen is not self.sys_peer or chosen.filter.last_update_s != self._update_s
        ):
            self._update_s = chosen.filter.last_update_s
        self.sys_peer = chosen
        return chosen

    @staticmethod
    def _metric(p: PeerAssociation, now_s: float) -> float:
        return p.stratum * MAXDIST + p.root_distance_s(now_s)

    def _intersection(self, fit: list[PeerAssociation], now_s: float) -> list[PeerAssociation]:
        """Marzullo's intersection (§11.2.1, Figure 26 `select`): truechimers are the
        peers whose correctness interval [offset - λ, offset + λ] meets the interval
        most of them agree on; `allow` falsetickers are tolerated while 2*allow < n."""
        n = len(fit)
        if n == 0:
            return []
        # (value, type): -1 lower edge, 0 midpoint, +1 upper edge.
        edges: list[tuple[float, int]] = []
        for p in fit:
            dist = p.root_distance_s(now_s)
            edges += [
                (p.filter.offset_s - dist, -1),
                (p.filter.offset_s, 0),
                (p.filter.offset_s + dist, +1),
            ]
        edges.sort()
        allow = 0
        while 2 * allow < n:
            found, chime, low = 0, 0, math.inf
            for value, kind in edges:
                chime -= kind
                if chime >= n - allow:
                    low = value
                    break
                if kind == 0:
                    found += 1
            chime, high = 0, -math.inf
            for value, kind in reversed(edges):
                chime += kind
                if chime >= n - allow:
                    high = value
                    break
                if kind == 0:
                    found += 1
            if found <= allow and low < high:
                return [
                    p
                    for p in fit
                    if p.filter.offset_s + p.root_distance_s(now_s) >= low
                    and p.filter.offset_s - p.root_distance_s(now_s) <= high
                ]
            allow += 1
        return []

    def _cluster(self, chimers: list[PeerAssociation], now_s: float) -> list[PeerAssociation]:
        """The clustering algorithm (§11.2.2): drop the worst outlier while it helps."""
        survivors = sorted(chimers, key=lambda p: self._metric(p, now_s))
        while len(survivors) > NMIN:
            phis = []
            for p in survivors:
                sq = sum((p.filter.offset_s - q.filter.offset_s) ** 2 for q in survivors)
                phis.append(math.sqrt(sq / (len(survivors) - 1)))
            worst = max(range(len(survivors)), key=lambda i: phis[i])
            min_peer_jitter = min(p.filter.jitter_s for p in survivors)
            if phis[worst] < min_peer_jitter:
                break
            survivors.pop(worst)
        return survivors

    # ------------------------------------------------------------------ system variables

    def status(self, now_s: float) -> SystemStatus:
        p = self.sys_peer
        if p is None:
            return SystemStatus(
                synchronized=False,
                stratum=MAXSTRAT,
                reference=None,
                ref_id=b"INIT",
                offset_s=0.0,
                jitter_s=0.0,
                root_delay_s=0.0,
                root_dispersion_s=0.0,
                reference_time_s=self._update_s,
                leap=packet.LEAP_UNSYNCHRONISED,
                poll=MINPOLL,
            )
        age = 0.0 if self._update_s is None else max(0.0, now_s - self._update_s)
        return SystemStatus(
            synchronized=True,
            stratum=min(p.stratum + 1, MAXSTRAT),
            reference=p.address,
            ref_id=packet.refid_for_address(p.address),
            offset_s=p.filter.offset_s,
            jitter_s=p.filter.jitter_s,
            root_delay_s=p.root_delay_s + p.filter.delay_s,
            root_dispersion_s=p.root_dispersion_s
            + p.filter.dispersion_s
            + p.filter.jitter_s
            + PHI * age
            + abs(p.filter.offset_s),
            reference_time_s=self._update_s,
            leap=p.leap,
            poll=p.hpoll,
            peer_dispersion_s=p.filter.dispersion_s,
        )
