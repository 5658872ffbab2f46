"""Global CLI options and the consoles every command prints through."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

DEFAULT_INVENTORY = Path("inventories/lab")


@dataclass
class GlobalOptions:
    inventory: Path
    output_format: str | None
    verbose: int
    no_color: bool

    @property
    def console(self) -> Console:
        return make_console(stderr=False, no_color=self.no_color)

    @property
    def err_console(self) -> Console:
        return make_console(stderr=True, no_color=self.no_color)


def make_console(*, stderr: bool, no_color: bool = False) -> Console:
    no_color = no_color or "NO_COLOR" in os.environ
    return Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=True)


def default_inventory() -> Path:
    env = os.environ.get("ORCH_INVENTORY")
    return Path(env) if env else DEFAULT_INVENTORY


def options(ctx: typer.Context) -> GlobalOptions:
    """The global options of this invocation (set by the root callback)."""
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, GlobalOptions):
        return obj
    return GlobalOptions(default_inventory(), None, 0, False)
