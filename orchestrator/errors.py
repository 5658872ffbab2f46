"""The one error hierarchy of orch.

Every error a user can cause or meet derives from OrchError. The CLI maps
`exit_code` to the process exit status in one place (orchestrator/cli/app.py);
nothing else picks exit codes.
"""

from __future__ import annotations


class OrchError(Exception):
    """Root of every error orch raises on purpose. Message is one line for a person."""

    exit_code: int = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(OrchError):
    """Bad input from the user: arguments, files, inventories. Exit code 2."""

    exit_code = 2


class InventoryError(InputError):
    """An inventory file that does not load or validate."""


class SecretError(InputError):
    """A secret reference that cannot be resolved (missing environment variable...)."""


class ParseError(InputError):
    """Device output that no template understands. Names platform, command and line."""

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        command: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.platform = platform
        self.command = command
        self.line = line


class ConfigError(InputError):
    """A bad configuration file or option (server config, keys file, report options)."""


class DeviceError(OrchError):
    """Something went wrong on one device; recorded per host, never aborts a run."""

    exit_code = 1


class ConnectionFailure(DeviceError):
    """SSH could not connect, authenticate or keep the session."""


class CommandRejected(DeviceError):
    """The device refused a command (e.g. `% Invalid input detected`)."""

    def __init__(self, message: str, *, command: str, output: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.output = output


class ServerError(OrchError):
    """The NTP server cannot start or run (port in use, permission denied)."""

    exit_code = 2


class LabError(OrchError):
    """The lab cannot start or is not running."""

    exit_code = 2
