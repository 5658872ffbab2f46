"""`orch demo`: Lab + server + push + verify + report, in one command."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError


def demo() -> None:
    """Lab + server + push + verify + report, in one command."""
    raise OrchError("'orch demo' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
