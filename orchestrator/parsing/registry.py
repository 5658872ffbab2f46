"""Which normaliser turns which template's rows into a model.

Each platform family keeps its normalisers in a ``normalise_<family>.py`` module as
``NORMALISERS: dict[str, Normaliser]`` keyed by template stem; this module merges
them and refuses a template without one, so no template's rows are ever ignored.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from orchestrator.errors import ParseError
from orchestrator.parsing.types import Normaliser

FAMILY_MODULES = (
    "orchestrator.parsing.normalise_cisco_ios",
    "orchestrator.parsing.normalise_cisco_xr",
    "orchestrator.parsing.normalise_cisco_nxos",
    "orchestrator.parsing.normalise_cisco_catos",
    "orchestrator.parsing.normalise_linux",
    "orchestrator.parsing.normalise_windows",
)


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # A family not written yet simply contributes nothing; a broken import inside
        # an existing module is a real error and propagates.
        if exc.name == name:
            return None
        raise


@cache
def normalisers() -> dict[str, Normaliser]:
    merged: dict[str, Normaliser] = {}
    for name in FAMILY_MODULES:
        module = _load(name)
        if module is None:
            continue
        table: dict[str, Normaliser] = module.NORMALISERS
        clash = merged.keys() & table.keys()
        if clash:
            raise RuntimeError(f"{name} redefines normalisers for {sorted(clash)}")
        merged.update(table)
    return merged


def normaliser_for(stem: str) -> Normaliser:
    try:
        return normalisers()[stem]
    except KeyError:
        raise ParseError(
            f"template {stem}.textfsm has no normaliser",
            hint="add it to NORMALISERS in orchestrator/parsing/normalise_<family>.py",
        ) from None
