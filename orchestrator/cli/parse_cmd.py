"""`orch parse`: Parse saved command output offline."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError


def parse() -> None:
    """Parse saved command output offline."""
    raise OrchError("'orch parse' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("parse")(parse)
