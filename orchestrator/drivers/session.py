"""Sessions to devices: the entry point of the transport layer (drivers/transport/).

open_session(host) -> ExecSession | CliSession | NapalmSession
"""

from __future__ import annotations

from orchestrator.drivers.transport import (
    EXEC_PLATFORMS,
    NAPALM_PLATFORMS,
    CliSession,
    ExecSession,
    NapalmSession,
    open_session,
)

__all__ = [
    "EXEC_PLATFORMS",
    "NAPALM_PLATFORMS",
    "CliSession",
    "ExecSession",
    "NapalmSession",
    "open_session",
]
