"""The transport layer: the only code that imports paramiko or napalm.

One module per question:

    hostkeys        which key may a device present (known_hosts, accept-new)
    errors          what went wrong, in one line (never "timed out" unless it was)
    client          which SSH algorithms and authentication (legacy opt-in, keyboard-
                    interactive)
    exec_session    Linux / Windows: one exec channel per command
    dialect         how each CLI platform talks, as data (prompt, enable, paging,
                    failures, configuration mode, save and its questions)
    shell           reading an interactive channel (syslog lines, --More--, prompts)
    cli_session     Cisco IOS / CatOS sessions driven by their dialect
    napalm_session  eos, junos, nxos, iosxr through napalm

open_session(host) picks the session type from the host's platform.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.drivers.transport.cli_session import CliSession, open_cli
from orchestrator.drivers.transport.dialect import DIALECTS
from orchestrator.drivers.transport.exec_session import ExecSession, open_exec
from orchestrator.drivers.transport.hostkeys import host_key_policy
from orchestrator.drivers.transport.napalm_session import NapalmSession, open_napalm
from orchestrator.errors import InputError
from orchestrator.models import NAPALM_PLATFORMS, Host

EXEC_PLATFORMS: tuple[str, ...] = ("linux", "windows")


def open_session(
    host: Host,
    *,
    timeout_s: float = 30.0,
    known_hosts: Path | None = None,
    accept_new_host_keys: bool = False,
) -> ExecSession | CliSession | NapalmSession:
    """Connect to `host` on its platform's transport. Raises ConnectionFailure.

    `known_hosts`: the file to check and record host keys in (default: orch's own file,
    plus ~/.ssh/known_hosts read-only). Every returned session is a context manager.
    """
    if host.platform in EXEC_PLATFORMS:
        return open_exec(host, timeout_s, host_key_policy(known_hosts, accept_new_host_keys))
    if host.platform in DIALECTS:
        return open_cli(host, timeout_s, host_key_policy(known_hosts, accept_new_host_keys))
    if host.platform in NAPALM_PLATFORMS or host.platform.startswith("napalm"):
        return open_napalm(host, timeout_s)
    raise InputError(f"{host.name}: no session type for platform {host.platform!r}")


__all__ = [
    "EXEC_PLATFORMS",
    "NAPALM_PLATFORMS",
    "CliSession",
    "ExecSession",
    "NapalmSession",
    "open_session",
]
