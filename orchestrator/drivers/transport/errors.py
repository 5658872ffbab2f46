"""Error translation: what went wrong with a device, in one line a person can act on.

Every library exception (paramiko, socket, napalm) becomes a ConnectionFailure naming the
device, its address:port and what happened; secrets never reach a message. "timed out"
is said only of a timeout.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import paramiko

from orchestrator import redact
from orchestrator.drivers.transport.hostkeys import HostKeyPolicy
from orchestrator.errors import CommandRejected, ConnectionFailure
from orchestrator.models import Host

LEGACY_SETTING = "data.ssh.legacy_algorithms: true"


class PromptTimeout(TimeoutError):
    """The device did not show the expected prompt in time (a real timeout)."""


class ChannelClosed(EOFError):
    """The device closed the interactive channel."""


def where(host: Host) -> str:
    return f"{host.name} ({host.hostname}:{host.port})"


def scrub(text: str, host: Host) -> str:
    """`text` with every secret of `host` masked (the one place this is done)."""
    return redact.redact_text(text, redact.host_secrets(host))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def incompatible(offer: dict[str, tuple[str, ...]] | None, legacy: bool) -> str:
    """The SSH algorithm mismatch, naming what the device offered and what to set."""
    if not offer:
        head = "no SSH algorithm in common with the device"
    else:
        parts = [f"{kind} {', '.join(names)}" for kind, names in offer.items() if names]
        head = "no SSH algorithm in common; the device offers " + "; ".join(parts)
    if legacy:
        return head + " (legacy algorithms are already enabled for this host)"
    return (
        head + f"; if these are the device's legacy SHA-1/ssh-rsa/CBC algorithms, set "
        f"{LEGACY_SETTING} for this host or its group"
    )


def describe(
    exc: BaseException,
    policy: HostKeyPolicy | None,
    offer: dict[str, tuple[str, ...]] | None = None,
    legacy: bool = False,
) -> str:
    """What happened, in a few words, never including a secret."""
    if policy is not None and policy.refused:
        return policy.refused
    if isinstance(exc, paramiko.AuthenticationException):
        return "authentication failed (check username/password or key)"
    if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer) or "Incompatible ssh peer" in str(
        exc
    ):
        return incompatible(offer, legacy)
    if isinstance(exc, socket.timeout | TimeoutError):
        detail = _first_line(exc) if str(exc).strip() else ""
        return "timed out" + (f": {detail}" if detail and "timed out" not in detail else "")
    if isinstance(exc, FileNotFoundError):
        return f"SSH key file not found: {exc.filename}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        # paramiko's "[Errno None] Unable to connect to port 22 on ...": every address
        # refused or unreachable
        return "connection refused or unreachable"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return "session dropped by the device"
    if isinstance(exc, OSError) and "closed" in str(exc).lower():
        return "session dropped by the device"
    if isinstance(exc, paramiko.SSHException | OSError):
        return f"SSH error: {_first_line(exc)}"
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def device_errors(
    host: Host,
    action: str,
    policy: HostKeyPolicy | None = None,
    alive: Callable[[], bool] | None = None,
    offer: Callable[[], dict[str, tuple[str, ...]] | None] | None = None,
    legacy: bool = False,
) -> Iterator[None]:
    """Turn library exceptions into one-line ConnectionFailures (secrets scrubbed).

    `alive` tells a read timeout from a dropped session; `offer` gives the algorithms the
    device offered when negotiation failed.
    """
    try:
        yield
    except (CommandRejected, ConnectionFailure):
        raise
    except (paramiko.SSHException, OSError, EOFError) as exc:
        what = describe(exc, policy, offer() if offer is not None else None, legacy)
        if alive is not None and not alive() and not isinstance(exc, paramiko.SSHException):
            what = "session dropped by the device"
        raise ConnectionFailure(scrub(f"{where(host)}: {action}: {what}", host)) from None
    except ValueError as exc:  # a library's "prompt not found" and the like
        msg = scrub(f"{where(host)}: {action}: {_first_line(exc)}", host)
        raise ConnectionFailure(msg) from None
