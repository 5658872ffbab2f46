"""`orch verify`: Collect, parse and judge each device's synchronisation; store the run."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError


def verify() -> None:
    """Collect, parse and judge each device's synchronisation; store the run."""
    raise OrchError("'orch verify' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
