"""The compliance rules, one function each, in the order a person should fix things.

A rule looks at one device's facts and returns a Finding: the Check it made
(expected vs actual) and, when the check fails, the verdict and the one-sentence
reason a person can act on. Rules never fetch anything; they judge data.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator.compliance.observe import Observation, normalise_address, reach_count
from orchestrator.ios_acl import access_groups, peer_access
from orchestrator.models import Check, ClientLogEntry, DeviceState, Host, Verdict

# A device polls at most every 1024 s (maxpoll 10) by default; two missed polls plus
# slack before we say that our server has not heard from it.
DEFAULT_MAX_POLL_AGE_S = 2400.0
# w32time polls as slowly as MaxPollInterval 15 (32768 s) on every role ("Windows Time
# service tools and settings", Microsoft Learn), and its short status names no poll.
WINDOWS_MAX_POLL_S = 32768.0


@dataclass(frozen=True)
class Facts:
    """Everything the rules may look at for one device."""

    host: Host
    state: DeviceState
    obs: Observation
    desired: frozenset[str]
    client_log: Mapping[str, ClientLogEntry] | None
    now: float
    max_poll_age_s: float

    @property
    def desired_text(self) -> str:
        return _join(self.desired)

    @property
    def poll_window_s(self) -> float:
        """How long our server may go without hearing from the device: three of its own
        poll intervals where it reports one, never less than `max_poll_age_s`."""
        poll: float | None = self.obs.poll_s
        if poll is None and self.host.platform == "windows":
            poll = WINDOWS_MAX_POLL_S
        return max(self.max_poll_age_s, 3.0 * poll) if poll else self.max_poll_age_s

    @property
    def peer_inferred(self) -> bool:
        """The platform names no sync peer (CatOS `show ntp` has no peer column), but the
        device is synchronised and every configured server is a desired one, so the
        peer is one of ours."""
        configured = self.obs.configured_servers
        return (
            self.obs.peer is None
            and self.obs.synchronised
            and bool(configured)
            and configured <= self.desired
        )

    @property
    def peer(self) -> str | None:
        """The sync peer; the configured server when it is inferred and unambiguous."""
        if self.obs.peer is None and self.peer_inferred and len(self.obs.configured_servers) == 1:
            return next(iter(self.obs.configured_servers))
        return self.obs.peer

    @property
    def synced_to_desired(self) -> bool:
        return self.obs.synchronised and (self.peer in self.desired or self.peer_inferred)


@dataclass(frozen=True)
class Finding:
    check: Check
    verdict: Verdict  # what the device is when this check fails
    reason: str  # why, and what to do; only meaningful when the check failed


Rule = Callable[[Facts], Finding | None]  # None: the rule does not apply to this device


def _join(addresses: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(addresses)) or "none"


def _ok(name: str, verdict: Verdict, expected: str, actual: str) -> Finding:
    return Finding(Check(name, True, expected, actual), verdict, "")


def _fail(name: str, verdict: Verdict, expected: str, actual: str, reason: str) -> Finding:
    return Finding(Check(name, False, expected, actual), verdict, reason)


# Why a platform leaves a fact out, by (platform, fact); the reports show it verbatim.
_UNMEASURED_WHY: dict[tuple[str, str], str] = {
    ("cisco_catos", "offset"): "CatOS 'show ntp' prints no offset",
    ("cisco_catos", "stratum"): "CatOS 'show ntp' prints no stratum",
    ("cisco_catos", "reach"): "CatOS 'show ntp' prints no reach register",
    ("windows", "offset"): "'w32tm /query /status' prints no offset to the source",
    ("windows", "reach"): "w32tm keeps no reach register",
    ("nxos", "offset"): "NX-OS (napalm) reports a hard-coded 0.0 offset, read as unknown",
}


def not_measured_why(platform: str, fact: str) -> str:
    return _UNMEASURED_WHY.get((platform, fact), f"the device's output gives no {fact}")


def _not_measured(f: Facts, name: str, verdict: Verdict, expected: str) -> Finding:
    """The platform does not report the fact: neither pass nor fail, and never the verdict."""
    why = f"not measured: {not_measured_why(f.host.platform, name)}"
    return Finding(Check(name, False, expected, why, measured=False), verdict, "")


def client_addresses(host: Host) -> tuple[str, ...]:
    """Addresses our server may see this host's requests from.

    `data: ntp_client_address` names the source address when it differs from the SSH
    address (a loopback source interface, NAT); otherwise the SSH address is used.
    """
    explicit = host.data_get("ntp_client_address")
    candidates = [explicit] if explicit else []
    candidates.append(host.hostname)
    return tuple(normalise_address(c) for c in candidates)


# --------------------------------------------------------------------------- rules


def domain_policy(f: Facts) -> Finding | None:
    if f.host.platform != "windows":
        return None
    name, expected = "domain-policy", "no domain policy overrides the peer list"
    if not f.state.configured.domain_policy:
        return _ok(name, Verdict.BLOCKED, expected, "none")
    return _fail(
        name,
        Verdict.BLOCKED,
        expected,
        "a domain policy sets NtpServer/Type",
        "a Windows domain policy (GPO 'Configure Windows NTP Client') overrides the local "
        f"peer list; have the domain admins point it at {f.desired_text} or exempt this host",
    )


def access_group(f: Facts) -> Finding | None:
    configured = f.state.configured
    groups = access_groups(configured.access_groups)
    name = "access-group"
    expected = f"no ntp access-group, or one that lets the device sync to {f.desired_text}"
    if not groups.any:
        return _ok(name, Verdict.BLOCKED, expected, "none")
    actual = "; ".join(groups.lines)
    if f.synced_to_desired:
        return _ok(name, Verdict.BLOCKED, expected, f"{actual} (synchronised to us, so it permits)")
    # IOS grants only the access types listed once any access-group exists; syncing to
    # a server needs `peer`, with an ACL that permits it (platforms.md 3.1, [R43]).
    access = {server: peer_access(groups, server, configured.acl_lines) for server in f.desired}
    if not groups.peer_acls:
        reason = (
            f"'{actual}' grants no 'peer' access, so the device may sync to no server: add "
            f"'ntp access-group peer <acl>' with an ACL permitting {f.desired_text}"
        )
        return _fail(name, Verdict.BLOCKED, expected, actual, reason)
    if access and all(allowed is True for allowed in access.values()):
        # The ACL lets our servers in: whatever keeps the device unsynchronised, it is not
        # the access group, and the rules after this one say what it is.
        permits = f"{actual} (ACL {groups.peer_acls[0]} permits {f.desired_text})"
        return _ok(name, Verdict.BLOCKED, expected, permits)
    denied = sorted(server for server, allowed in access.items() if allowed is False)
    acl = groups.peer_acls[0]
    if denied:
        reason = (
            f"'{actual}' blocks {', '.join(denied)}: ACL {acl} does not permit "
            f"{'it' if len(denied) == 1 else 'them'}; add a permit for the server so the "
            "device can synchronise to it"
        )
    else:
        reason = (
            f"'{actual}' may block {f.desired_text}: permit the server in ACL {acl} so the "
            "device can synchronise to it"
        )
    return _fail(name, Verdict.BLOCKED, expected, actual, reason)


def configured_servers(f: Facts) -> Finding | None:
    name = "configured-servers"
    configured = f.obs.configured_servers
    expected, actual = f.desired_text, _join(configured)
    if configured == f.desired:
        return _ok(name, Verdict.MISCONFIGURED, expected, actual)
    missing, extra = f.desired - configured, configured - f.desired
    parts = []
    if missing:
        parts.append(f"missing {_join(missing)}")
    if extra:
        parts.append(f"unexpected {_join(extra)}")
    reason = (
        f"configured NTP servers differ from the desired ones ({'; '.join(parts)}): "
        f"run 'orch push --host {f.host.name}'"
    )
    return _fail(name, Verdict.MISCONFIGURED, expected, actual, reason)


def synchronised(f: Facts) -> Finding | None:
    name, expected = "synchronised", "clock synchronised"
    if f.obs.synchronised:
        return _ok(name, Verdict.UNSYNCHRONISED, expected, "synchronised")
    desired_rows = [a for a in f.state.associations if normalise_address(a.address) in f.desired]
    answered = [a for a in desired_rows if reach_count(a.reach) > 0]
    if desired_rows and not answered:
        reason = (
            f"no answer from {f.desired_text} (reach 0): check that the device reaches the "
            "server on UDP 123 (routing, firewall, the server's allow list)"
        )
        actual = "unsynchronised, reach 0"
    elif answered:
        best = max(answered, key=lambda a: reach_count(a.reach))
        reach_text = f"{best.reach:o}" if best.reach is not None else "?"
        reason = (
            f"{best.address} answers (reach {reach_text}) but the device has not selected it "
            "yet: wait for convergence ('orch verify --wait 120') or check the server's stratum"
        )
        actual = f"unsynchronised, reach {reach_text}"
    else:
        reason = (
            f"the clock is not synchronised and shows no association with {f.desired_text}: "
            "check that the NTP client is enabled and running"
        )
        actual = "unsynchronised, no association"
    return _fail(name, Verdict.UNSYNCHRONISED, expected, actual, reason)


def sync_peer(f: Facts) -> Finding | None:
    name, expected = "sync-peer", f"one of {f.desired_text}"
    peer = f.obs.peer
    if peer in f.desired:
        return _ok(name, Verdict.SYNCED_ELSEWHERE, expected, str(peer))
    if f.peer_inferred:
        actual = (
            f"{f.peer or _join(f.obs.configured_servers)} (inferred: the platform names no peer)"
        )
        return _ok(name, Verdict.SYNCED_ELSEWHERE, expected, actual)
    actual = peer or "unknown reference"
    reason = (
        f"synchronised to {actual}, not to {f.desired_text}: remove the other time sources "
        f"or mark {f.desired_text} 'prefer'"
    )
    return _fail(name, Verdict.SYNCED_ELSEWHERE, expected, actual, reason)


def offset(f: Facts) -> Finding | None:
    limit = f.host.desired.thresholds.max_offset_ms
    name, expected = "offset", f"|offset| <= {limit:g} ms"
    value = f.obs.offset_ms
    if value is None:
        # w32tm's short status and CatOS print no offset: nothing to judge, say so.
        return _not_measured(f, name, Verdict.DRIFTING, expected)
    actual = f"{value:g} ms"
    if abs(value) <= limit:
        return _ok(name, Verdict.DRIFTING, expected, actual)
    reason = (
        f"clock offset {value:g} ms exceeds the {limit:g} ms policy: the clock is being "
        "slewed or something else steps it; check for a second time source or a bad oscillator"
    )
    return _fail(name, Verdict.DRIFTING, expected, actual, reason)


def stratum(f: Facts) -> Finding | None:
    limit = f.host.desired.thresholds.max_stratum
    name, expected = "stratum", f"stratum <= {limit}"
    value = f.obs.stratum
    if value is None:
        return _not_measured(f, name, Verdict.DRIFTING, expected)
    if value <= limit:
        return _ok(name, Verdict.DRIFTING, expected, str(value))
    reason = (
        f"stratum {value} is above the {limit} policy: our server's own reference is too "
        "deep; check 'orch server status'"
    )
    return _fail(name, Verdict.DRIFTING, expected, str(value), reason)


def reach(f: Facts) -> Finding | None:
    minimum = f.host.desired.thresholds.min_reach
    name, expected = "reach", f">= {minimum} of the last 8 polls answered"
    register = f.obs.reach
    if register is None:
        return _not_measured(f, name, Verdict.DRIFTING, expected)
    count = reach_count(register)
    actual = f"{count}/8 (reach {register:o})"
    if count >= minimum:
        return _ok(name, Verdict.DRIFTING, expected, actual)
    reason = (
        f"only {count} of the last 8 polls of {f.obs.peer} were answered (reach {register:o}): "
        "packets are being lost or rate-limited between device and server"
    )
    return _fail(name, Verdict.DRIFTING, expected, actual, reason)


def polls_our_server(f: Facts) -> Finding | None:
    """Two-sided check: a device that says it follows us must show up in our client log."""
    if f.client_log is None or not f.synced_to_desired:
        return None
    addresses = client_addresses(f.host)
    name = "server-log"
    window = f.poll_window_s
    expected = f"our server heard from {' or '.join(addresses)} in the last {window:g} s"
    entry = next((f.client_log[a] for a in addresses if a in f.client_log), None)
    if entry is not None and f.now - entry.last_seen <= window:
        age = max(0.0, f.now - entry.last_seen)
        return _ok(
            name,
            Verdict.SYNCED_ELSEWHERE,
            expected,
            f"last request {age:.0f} s ago ({entry.requests} requests)",
        )
    if entry is None:
        actual = "never"
    else:
        seen = _dt.datetime.fromtimestamp(entry.last_seen, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        actual = f"last request at {seen}"
    reason = (
        f"the device says it is synchronised to {f.peer or f.desired_text}, but our server's "
        "client log "
        f"shows {actual} from {' or '.join(addresses)}: another server answers for that "
        "address (NAT, anycast or a duplicate IP), or set data.ntp_client_address to the "
        "device's real source address"
    )
    return _fail(name, Verdict.SYNCED_ELSEWHERE, expected, actual, reason)


def nts(f: Facts) -> Finding | None:
    """Servers with `nts: true`: the device must authenticate its peer with NTS, and our
    server's client log must show NTS requests from it. A platform that cannot say (no
    NTS client, or not one orch sets up) gets "not applicable", never a pass."""
    wanted = {normalise_address(s.address) for s in f.host.desired.servers if s.nts}
    if not wanted:
        return None
    name = "nts"
    expected = f"NTS-authenticated time from {_join(wanted)}"
    if f.state.nts_sources is None:
        actual = f"not applicable: orch has no NTS client setup for {f.host.platform}"
        if f.host.platform == "linux":
            actual += " with this daemon (chrony 4.0+ only)"
        return Finding(
            Check(name, False, expected, actual, measured=False, applicable=False),
            Verdict.COMPLIANT,
            "",
        )
    if not f.synced_to_desired or f.peer is None or normalise_address(f.peer) not in wanted:
        return None  # the sync rules say what is wrong first
    peer = normalise_address(f.peer)
    authenticated = {normalise_address(a) for a in f.state.nts_sources}
    if peer not in authenticated:
        return _fail(
            name,
            Verdict.MISCONFIGURED,
            expected,
            f"{f.peer} without NTS (chronyc -N authdata)",
            f"the device follows {f.peer} without NTS: check that its server line has `nts`, "
            "that it trusts our certificate (ntstrustedcerts) for the name it uses, and that "
            "it reaches our NTS-KE port (TCP 4460)",
        )
    if f.client_log is None:
        return _ok(name, Verdict.MISCONFIGURED, expected, f"{f.peer}: NTS (chronyc -N authdata)")
    entry = next((f.client_log[a] for a in client_addresses(f.host) if a in f.client_log), None)
    if entry is None or entry.nts == 0:
        return _fail(
            name,
            Verdict.MISCONFIGURED,
            expected,
            f"{f.peer}: NTS per the device, but no NTS requests in our server's client log",
            "the device says it uses NTS but our server answered none of its requests with "
            "NTS: another server answers for that address, or our server runs without "
            "--nts-cert/--nts-key",
        )
    return _ok(
        name,
        Verdict.MISCONFIGURED,
        expected,
        f"{f.peer}: NTS (chronyc -N authdata); {entry.nts} NTS requests in our client log",
    )


# The order is the precedence: the first failing rule names the verdict, because
# fixing it is the first thing to do (a GPO rewrites the peer list, a device without
# our server configured cannot be blamed on its ACL, an unsynced one cannot be judged
# on offset).
RULES: tuple[Rule, ...] = (
    domain_policy,
    configured_servers,
    access_group,
    synchronised,
    sync_peer,
    offset,
    stratum,
    reach,
    polls_our_server,
    nts,
)
