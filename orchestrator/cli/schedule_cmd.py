"""`orch schedule`: Run verify and report on a schedule (systemd timer or cron)."""

from __future__ import annotations

import typer

from orchestrator.errors import OrchError

group = typer.Typer(
    help="Run verify and report on a schedule (systemd timer or cron).", no_args_is_help=True
)


@group.command("todo", hidden=True)
def _todo() -> None:
    raise OrchError("'orch schedule' is not implemented yet")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="schedule")
