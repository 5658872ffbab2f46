"""`orch inventory`: Check, show and import inventories."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError

group = typer.Typer(help="Check, show and import inventories.", no_args_is_help=True)


@group.command("todo", hidden=True)
def _todo() -> None:
    raise OrchError("'orch inventory' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="inventory")
