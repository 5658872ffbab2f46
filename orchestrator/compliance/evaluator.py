"""The pure evaluator: one device's data in, one verdict with its checks out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestrator.compliance.observe import normalise_address, observe
from orchestrator.compliance.rules import (
    DEFAULT_MAX_POLL_AGE_S,
    RULES,
    Facts,
    client_addresses,
)
from orchestrator.models import (
    Check,
    ClientLogEntry,
    DeviceState,
    DeviceVerdict,
    Host,
    Verdict,
)


def evaluate(
    host: Host,
    state: DeviceState | None,
    client_log: Mapping[str, ClientLogEntry] | None,
    *,
    now: float,
    connection_error: str | None = None,
    max_poll_age_s: float = DEFAULT_MAX_POLL_AGE_S,
) -> DeviceVerdict:
    """Judge one device against its site policy.

    `client_log` is our server's log keyed by client address (None when the server's
    log is not available: the two-sided check is then skipped, not failed). `now` is
    the Unix time the log is judged against. `connection_error` says why the device's
    state could not be read; `state` may still carry the raw outputs then.
    """
    if connection_error is not None or state is None:
        error = connection_error or "no state was collected"
        return DeviceVerdict(
            host=host.name,
            site=host.site,
            platform=host.platform,
            verdict=Verdict.UNREACHABLE,
            reason=f"could not read the device: {error}",
            checks=(Check("collect", False, "device state read over SSH", error),),
            state=state,
        )

    obs = observe(state)
    facts = Facts(
        host=host,
        state=state,
        obs=obs,
        desired=frozenset(normalise_address(a) for a in host.desired.server_addresses),
        client_log=client_log,
        now=now,
        max_poll_age_s=max_poll_age_s,
    )
    findings = [f for f in (rule(facts) for rule in RULES) if f is not None]
    # The verdict rests on what was measured: an unmeasured check neither passes nor fails.
    first_failure = next((f for f in findings if f.check.status == "fail"), None)
    if first_failure is None:
        verdict, reason = Verdict.COMPLIANT, f"synchronised to {facts.peer} within policy"
        unmeasured = [f.check.name for f in findings if not f.check.measured and f.check.applicable]
        if unmeasured:
            reason += f" ({', '.join(unmeasured)} not measured on this platform)"
        for check in (f.check for f in findings if not f.check.applicable):
            reason += f"; {check.name} {check.actual}"  # e.g. "nts not applicable: ..."
    else:
        verdict, reason = first_failure.verdict, first_failure.reason
    return DeviceVerdict(
        host=host.name,
        site=host.site,
        platform=host.platform,
        verdict=verdict,
        reason=reason,
        checks=tuple(f.check for f in findings),
        peer=facts.peer,
        offset_ms=obs.offset_ms,
        stratum=obs.stratum,
        reach=obs.reach,
        state=state,
    )


def index_client_log(entries: Iterable[ClientLogEntry]) -> dict[str, ClientLogEntry]:
    """Key our server's client log by normalised address, as `evaluate` expects."""
    return {normalise_address(e.address): e for e in entries}


def unknown_clients(
    hosts: Iterable[Host],
    client_log: Mapping[str, ClientLogEntry],
    *,
    now: float,
    max_poll_age_s: float = DEFAULT_MAX_POLL_AGE_S,
) -> tuple[ClientLogEntry, ...]:
    """Clients that polled our server recently but are not in the inventory.

    `hosts` must be the whole inventory, not a filtered selection, or every device
    outside the filter would show up here.
    """
    known = {a for h in hosts for a in client_addresses(h)}
    return tuple(
        sorted(
            (
                entry
                for address, entry in client_log.items()
                if address not in known and now - entry.last_seen <= max_poll_age_s
            ),
            key=lambda e: e.address,
        )
    )
