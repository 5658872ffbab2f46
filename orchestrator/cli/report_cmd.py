"""`orch report`: Compliance report from the stored history."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError


def report() -> None:
    """Compliance report from the stored history."""
    raise OrchError("'orch report' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
