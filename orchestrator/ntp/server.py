"""The server's decision for one datagram: `Respond(bytes)` or `Ignore(reason)`.

Pure: the kernel receive time, a clock to read the transmit timestamp from, and
random bits are all passed in; the only state is bookkeeping (rate-limit buckets,
client log, counters), all bounded.

Rules (RFC 5905 §9.2, §14 "fast_xmit", and what chrony/NTPsec do; see
shared/reference/ntp-server.md):
  * shorter than 48 octets, length not a multiple of 4, bad extension fields or
    MAC layout, version outside 1..4: no reply;
  * mode 3 -> mode 4 reply; mode 1 -> mode 2 (old Windows w32time, no association
    is mobilised); modes 0, 2, 4, 5, 6 and 7: no reply;
  * denied by the access list: no reply (or KoD DENY if `deny_kod`);
  * over the rate limit: KoD RATE (itself limited; its poll raised to the limit's
    interval) or no reply, a few leak through;
  * a MAC with an unknown key or a wrong digest: no reply (as chrony; no
    crypto-NAK, which would be unauthenticated anyway); no MAC while
    `require_auth`: no reply; a valid MAC: the reply carries a MAC with that key;
  * reply: LI/stratum/refid/ref time/root delay from the system state (stratum
    16 goes out as 0), root dispersion + 15 ppm x seconds since the last update,
    version and poll echoed, origin = the request's transmit octets verbatim,
    receive = kernel RX time, transmit = `read_clock()` called last; bits below
    the precision randomised; receive never equal to origin, transmit never
    before receive;
  * a reply is never longer than its request (extension fields are not echoed);
  * NTS (RFC 8915, when the policy has NTS keys): a request carrying NTS extension
    fields goes to `_nts_reply` (orchestrator.ntp.nts): authenticated reply with fresh
    cookies, exactly as long as the request; KoD NTSN for a bad cookie/authenticator.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from orchestrator.ntp import packet as pk
from orchestrator.ntp import timestamps as ts
from orchestrator.ntp.access import AccessControl, AccessList
from orchestrator.ntp.auth import KeyStore, SymmetricKey
from orchestrator.ntp.clientlog import ClientLog, Outcome
from orchestrator.ntp.nts import NtsError, NtsNak, NtsServer, has_nts_fields
from orchestrator.ntp.nts_cookie import KeyRing, RandomBytes
from orchestrator.ntp.ratelimit import RateDecision, RateLimitConfig, RateLimiter

PHI = 15e-6  # RFC 5905 §4 frequency tolerance: dispersion growth, s/s
# The reply header; poll is echoed as the request's raw octet, origin as its raw 8 octets.
_REPLY = struct.Struct("!BBBbII4sQ8sQQ")
_KOD = struct.Struct("!BBbb8x4s8x")  # up to the origin field; root delay/disp, ref ts zero
_NTP_UNIX_NS = ts.NTP_UNIX_OFFSET_S * 1_000_000_000
_MASK64 = ts.TS_MASK


class IgnoreReason(StrEnum):
    SHORT = "short"
    MALFORMED = "malformed"
    VERSION = "bad-version"
    MODE = "mode"
    DENIED = "denied"
    RATE_LIMITED = "rate-limited"
    UNAUTHENTICATED = "unauthenticated"
    UNKNOWN_KEY = "unknown-key"
    BAD_MAC = "bad-mac"
    TOO_LONG = "reply-too-long"
    NTS_MALFORMED = "nts-malformed"


class Respond(NamedTuple):
    """Send `data` back to the client (a tuple: cheap to build on the hot path)."""

    data: bytes


class Ignore(NamedTuple):
    """Send nothing; `reason` says why (also counted as `dropped-<reason>`)."""

    reason: IgnoreReason


_IGNORE = {r: Ignore(r) for r in IgnoreReason}
KISS_NTSN = b"NTSN"  # RFC 8915 §5.7 NTS NAK
NTS_COUNTERS = ("nts-requests", "nts-cookies", "nts-auth-failures")


@dataclass(frozen=True, slots=True)
class SystemState:
    """What the server says about its clock (RFC 5905 §11 system variables).

    `stratum` 16 means unsynchronised and is sent as 0. `ref_time_ns` is the Unix
    time of the last update (0 = never): root dispersion grows by PHI per second
    from it.
    """

    leap: int = pk.LEAP_UNSYNCHRONISED
    stratum: int = pk.STRATUM_UNSYNCHRONISED
    ref_id: bytes = b"\x00\x00\x00\x00"
    ref_time_ns: int = 0
    root_delay_s: float = 1.0
    root_dispersion_s: float = 1.0
    precision: int = -20

    @property
    def synchronised(self) -> bool:
        return self.leap != pk.LEAP_UNSYNCHRONISED and 0 < self.stratum < 16

    def root_dispersion_at(self, now_ns: int) -> float:
        if not self.ref_time_ns:
            return self.root_dispersion_s
        return self.root_dispersion_s + PHI * max(0, now_ns - self.ref_time_ns) / 1e9


UNSYNCHRONISED = SystemState()


@dataclass(frozen=True)
class ServerPolicy:
    """Access, rate limiting and authentication settings of the server."""

    access: AccessList = field(
        default_factory=lambda: AccessList.from_rules(("127.0.0.0/8", "::1"))
    )
    ratelimit: RateLimitConfig | None = field(default_factory=RateLimitConfig)
    keys: KeyStore = field(default_factory=KeyStore)
    require_auth: bool = False
    deny_kod: bool = False  # answer denied clients with KoD DENY instead of silence
    answer_symmetric: bool = True  # mode 1 -> mode 2 for old Windows clients
    max_clients: int = 4096  # client log records kept in memory
    nts_keys: KeyRing | None = None  # NTS (RFC 8915) on, with the NTS-KE server's keys


class NtpServerCore:
    """Decides what to do with each datagram; keeps counters and the client log."""

    def __init__(
        self,
        policy: ServerPolicy,
        state: SystemState = UNSYNCHRONISED,
        random_bytes: RandomBytes | None = None,
        *,
        limiter: RateLimiter | None = None,
        client_log: ClientLog | None = None,
    ) -> None:
        """`random_bytes(n)` (a CSPRNG, e.g. os.urandom) is needed when NTS is on.
        `limiter` and `client_log` replace the default in-memory ones (the serve layer
        passes ones backed by its C packet loop's tables, so both paths share one state);
        `limiter` is used only when `policy.ratelimit` is set."""
        self.policy = policy
        self.access = AccessControl(policy.access)
        self._allowed = self.access.cache  # read directly on the hot path
        self.limiter: RateLimiter | None = None
        if policy.ratelimit:
            self.limiter = limiter if limiter is not None else RateLimiter(policy.ratelimit)
        self.client_log = client_log if client_log is not None else ClientLog(policy.max_clients)
        self.counters: dict[str, int] = {"received": 0, "answered": 0, "kod-rate": 0}
        self.counters.update({f"dropped-{r}": 0 for r in IgnoreReason})
        self.counters.update({"kod-deny": 0, "authenticated": 0, "leaked": 0})
        self.nts: NtsServer | None = None
        if policy.nts_keys is not None:
            if random_bytes is None:
                raise ValueError("NTS needs a random_bytes source")
            self.nts = NtsServer(policy.nts_keys, random_bytes)
            self.counters.update(dict.fromkeys(NTS_COUNTERS, 0))
        self.set_state(state)

    def set_state(self, state: SystemState) -> None:
        """Install a new system state (from the reference tracker)."""
        self.state = state
        self._stratum = state.stratum if state.stratum < 16 else 0
        self._root_delay = ts.short_from_s(state.root_delay_s)
        self._ref_ts = ts.from_unix_ns(state.ref_time_ns) if state.ref_time_ns else 0
        self._leap_bits = state.leap << 6
        self._precision = state.precision
        self._ref_id = state.ref_id
        self._ref_ns = state.ref_time_ns
        self._disp0 = state.root_dispersion_s
        # timestamp bits at or above the precision are kept; those below are random
        nbits = min(32, max(0, 32 + state.precision))
        self._fuzz_mask = (1 << nbits) - 1
        self._keep_mask = _MASK64 ^ self._fuzz_mask

    def wire_state(self) -> tuple[int, int, int, int, bytes, int, float, int]:
        """The state as a reply carries it: (leap, stratum as sent, precision, root delay
        in NTP short format, refid, reference timestamp, root dispersion s, reference
        time ns) - what a compiled packet loop needs to build the same replies."""
        return (
            self.state.leap,
            self._stratum,
            self._precision,
            self._root_delay,
            self._ref_id,
            self._ref_ts,
            self._disp0,
            self._ref_ns,
        )

    # ------------------------------------------------------------------ the decision

    def handle(
        self,
        client: str,
        rx_time_ns: int,
        datagram: bytes,
        read_clock: Callable[[], int],
        random_bits: int,
    ) -> Respond | Ignore:
        """Decide on one datagram from `client` received at `rx_time_ns` (Unix ns).

        `read_clock()` returns Unix ns and is called once, last, for the transmit
        timestamp. `random_bits` (>= 96 bits) fuzzes the timestamps and drives the
        rate limiter's leak.
        """
        counters = self.counters
        counters["received"] += 1
        now = rx_time_ns / 1e9
        n = len(datagram)
        if n < pk.HEADER_LEN:
            return self._ignore(client, now, IgnoreReason.SHORT)
        b0 = datagram[0]
        mode = b0 & 7
        if mode != pk.MODE_CLIENT and not (
            mode == pk.MODE_SYMMETRIC_ACTIVE and self.policy.answer_symmetric
        ):
            return self._ignore(client, now, IgnoreReason.MODE)
        version = (b0 >> 3) & 7
        if not 1 <= version <= 4:
            return self._ignore(client, now, IgnoreReason.VERSION)
        mac: pk.Mac | None = None
        nts = False
        if n > pk.HEADER_LEN:
            if n - pk.HEADER_LEN in pk.V4_MAC_LENS:  # header + MAC: what decode() finds too
                mac = pk.Mac(int.from_bytes(datagram[48:52], "big"), datagram[52:])
            else:
                # NTS hook: extension fields of RFC 8915 go to _nts_reply (see there)
                nts = self.nts is not None and has_nts_fields(datagram)
                try:
                    mac = None if nts else pk.decode(datagram).mac
                except pk.PacketError:
                    return self._ignore(client, now, IgnoreReason.MALFORMED)

        allowed = self._allowed.get(client)
        if allowed is None:
            allowed = self.access.permits(client)
        if not allowed:
            if self.policy.deny_kod and self._kod_allowed(client, now):
                counters["kod-deny"] += 1
                return self._kod(client, now, datagram, pk.KISS_DENY)
            return self._ignore(client, now, IgnoreReason.DENIED)

        if self.limiter is not None:
            decision = self.limiter.check(client, now, random_bits >> 64)
            if decision is not RateDecision.PASS:
                if decision is RateDecision.KOD:
                    counters["kod-rate"] += 1
                    return self._kod(client, now, datagram, pk.KISS_RATE)
                if decision is RateDecision.DROP:
                    return self._ignore(client, now, IgnoreReason.RATE_LIMITED)
                counters["leaked"] += 1

        if nts:
            return self._nts_reply(client, now, datagram, rx_time_ns, read_clock, random_bits)

        key: SymmetricKey | None = None
        if mac is not None and mac.digest:
            key = self.policy.keys.get(mac.key_id)
            if key is None:
                return self._ignore(client, now, IgnoreReason.UNKNOWN_KEY)
            if not key.verify(datagram[: n - mac.wire_length], mac.digest):
                return self._ignore(client, now, IgnoreReason.BAD_MAC)
            counters["authenticated"] += 1
        elif self.policy.require_auth:
            return self._ignore(client, now, IgnoreReason.UNAUTHENTICATED)

        # Everything but the reply itself first, so that the transmit timestamp is read
        # as close to the send as possible (after it, only packing and the MAC).
        reply_len = pk.HEADER_LEN + (4 + key.digest_len if key is not None else 0)
        if reply_len > n:  # the amplification guard; a verified MAC keeps it from firing
            return self._ignore(client, now, IgnoreReason.TOO_LONG)
        counters["answered"] += 1
        self.client_log.record(
            client, now, Outcome.RESPONDED, key.key_id if key is not None else None
        )
        reply = self._reply(b0, datagram, rx_time_ns, read_clock, random_bits)
        if key is not None:
            reply = key.sign(reply)
        return Respond(reply)

    def set_nts_keys(self, ring: KeyRing) -> None:
        """Install the NTS-KE server's rotated master keys."""
        if self.nts is not None:
            self.nts.set_keys(ring)

    def _nts_reply(
        self,
        client: str,
        now: float,
        datagram: bytes,
        rx_time_ns: int,
        read_clock: Callable[[], int],
        random_bits: int,
    ) -> Respond | Ignore:
        """An NTS request (RFC 8915 §5): an authenticated reply with fresh cookies, an
        NTS NAK (KoD NTSN) for a cookie or authenticator that fails, or nothing."""
        assert self.nts is not None
        counters = self.counters
        try:
            checked = self.nts.check(datagram)
        except NtsError:
            return self._ignore(client, now, IgnoreReason.NTS_MALFORMED)
        if isinstance(checked, NtsNak):
            counters["nts-auth-failures"] += 1
            kod = self._kod(client, now, datagram, KISS_NTSN)
            return Respond(kod.data + checked.unique_id)
        header = self._reply(datagram[0], datagram, rx_time_ns, read_clock, random_bits)
        sealed = self.nts.seal(checked, header, len(datagram))
        if sealed is None:
            return self._ignore(client, now, IgnoreReason.TOO_LONG)
        counters["answered"] += 1
        counters["nts-requests"] += 1
        counters["nts-cookies"] += sealed[1]
        self.client_log.record(client, now, Outcome.RESPONDED, nts=True)
        return Respond(sealed[0])

    # ------------------------------------------------------------------ helpers

    def _reply(
        self,
        b0: int,
        request: bytes,
        rx_time_ns: int,
        read_clock: Callable[[], int],
        random_bits: int,
    ) -> bytes:
        # Inlined timestamps.from_unix_ns + fuzz: this runs for every answered packet.
        keep, fuzz = self._keep_mask, self._fuzz_mask
        sec, rem = divmod(rx_time_ns + _NTP_UNIX_NS, 1_000_000_000)
        rx = ((sec << 32 | (rem << 32) // 1_000_000_000) & keep | random_bits & fuzz) & _MASK64
        origin = request[40:48]
        if rx == int.from_bytes(origin, "big"):
            rx ^= 1
        disp = self._disp0
        if self._ref_ns:
            disp += PHI * max(0, rx_time_ns - self._ref_ns) / 1e9
        root_disp = min(int(disp * 65536.0) + 1, ts.SHORT_MAX)  # rounded up, saturated
        reply_mode = pk.MODE_SERVER if b0 & 7 == pk.MODE_CLIENT else pk.MODE_SYMMETRIC_PASSIVE
        sec, rem = divmod(read_clock() + _NTP_UNIX_NS, 1_000_000_000)  # the last clock read
        tx = (sec << 32 | (rem << 32) // 1_000_000_000) & keep | (random_bits >> 32) & fuzz
        tx &= _MASK64
        if (tx - rx) & _MASK64 >= 1 << 63 or tx == rx:  # never before receive
            tx = (rx + 1) & _MASK64
        return _REPLY.pack(
            self._leap_bits | (b0 & 0x38) | reply_mode,
            self._stratum,
            request[2],
            self._precision,
            self._root_delay,
            root_disp,
            self._ref_id,
            self._ref_ts,
            origin,
            rx,
            tx,
        )

    def _kod_allowed(self, client: str, now: float) -> bool:
        return self.limiter is None or self.limiter.kod_allowed(client, now)

    def _kod(self, client: str, now: float, request: bytes, code: bytes) -> Respond:
        """KoD: LI=3, stratum 0, the code as refid, origin = receive = transmit = the
        request's transmit octets. A RATE KoD's poll is at least the rate limit's
        interval, telling the client how often it may ask (as NTPsec and chrony do)."""
        b0 = request[0]
        reply_mode = pk.MODE_SERVER if b0 & 7 == pk.MODE_CLIENT else pk.MODE_SYMMETRIC_PASSIVE
        poll = struct.unpack_from("b", request, 2)[0]
        if code == pk.KISS_RATE and self.limiter is not None:
            poll = max(poll, self.limiter.config.interval)
        data = (
            _KOD.pack(
                (pk.LEAP_UNSYNCHRONISED << 6) | (b0 & 0x38) | reply_mode,
                0,
                poll,
                self.state.precision,
                code,
            )
            + request[40:48] * 3
        )
        self.client_log.record(client, now, Outcome.KOD)
        return Respond(data)

    def _ignore(self, client: str, now: float, reason: IgnoreReason) -> Ignore:
        self.counters["dropped-" + reason.value] += 1
        self.client_log.record(client, now, Outcome.DROPPED)
        return _IGNORE[reason]
