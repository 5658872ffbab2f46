"""`orch push`: Render and push NTP client configuration to the devices of a site."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError


def push() -> None:
    """Render and push NTP client configuration to the devices of a site."""
    raise OrchError("'orch push' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("push")(push)
