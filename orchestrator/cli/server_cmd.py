"""`orch server`: Run the site NTP server and inspect its clients."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError

group = typer.Typer(help="Run the site NTP server and inspect its clients.", no_args_is_help=True)


@group.command("todo", hidden=True)
def _todo() -> None:
    raise OrchError("'orch server' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="server")
