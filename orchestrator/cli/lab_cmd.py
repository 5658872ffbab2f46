"""`orch lab`: A simulated fleet on loopback, for trying orch without hardware."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError

group = typer.Typer(
    help="A simulated fleet on loopback, for trying orch without hardware.", no_args_is_help=True
)


@group.command("todo", hidden=True)
def _todo() -> None:
    raise OrchError("'orch lab' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="lab")
