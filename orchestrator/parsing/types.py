"""Types shared by the parsing framework and the per-platform normalisers.

A template turns text into rows (TextFSM records as ``{VALUE_NAME: text}``); a
normaliser turns the rows of one template into a model with explicit units.
Normalisers live in ``normalise_<family>.py`` modules as a module-level
``NORMALISERS: dict[str, Normaliser]`` keyed by template file stem
(``cisco_ios_show_ntp_associations``); ``registry.py`` merges them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from orchestrator.models import Association, ConfiguredNtp, NtpStatus

Row: TypeAlias = dict[str, str]
Normalised: TypeAlias = list[Association] | NtpStatus | ConfiguredNtp
Normaliser: TypeAlias = Callable[[list[Row]], Normalised]


class RowError(ValueError):
    """A row a normaliser cannot make sense of.

    ``row`` is the index of the offending row in the list the normaliser got; the
    framework turns it into the input line number of the ParseError it raises.
    """

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row
