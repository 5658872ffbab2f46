"""Small converters from printed text to typed values, shared by every normaliser.

Each raises ValueError naming what it could not read; `normalise_each` turns that
into a RowError that carries the row index, so the framework can report the
input line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from orchestrator.parsing.types import Row, RowError

T = TypeVar("T")

# Values platforms print for "nothing here".
_EMPTY = frozenset({"", "-", "--", "n/a", "N/A"})

_DURATION = re.compile(r"^(?P<n>\d+)(?P<unit>[smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def blank(text: str | None) -> bool:
    """True for an absent value (empty, or the `-` platforms print instead of a number)."""
    return text is None or text.strip() in _EMPTY


def text_or_none(text: str | None) -> str | None:
    return None if text is None or blank(text) else text.strip()


def int_or_none(text: str | None, what: str = "value") -> int | None:
    if text is None or blank(text):
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not an integer") from None


def float_or_none(text: str | None, what: str = "value") -> float | None:
    """A decimal number as printed: `-0.42`, `+1.5`, `15937.` (IOS's trailing dot)."""
    if text is None or blank(text):
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a number") from None


def reach_from_octal(text: str | None) -> int | None:
    """The reach register as an int; platforms print it in octal (377 = 255 = 8 of 8)."""
    if text is None or blank(text):
        return None
    try:
        value = int(text.strip(), 8)
    except ValueError:
        raise ValueError(f"reach {text.strip()!r} is not an octal number") from None
    if value > 0o377:
        raise ValueError(f"reach {text.strip()!r} is larger than the 8-bit register (377)")
    return value


def duration_s(text: str | None, what: str = "value") -> int | None:
    """Seconds from `64`, `5m`, `15h`, `22d` (ntpq/IOS suffixes); None for `-`."""
    if text is None or blank(text):
        return None
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{what} {text.strip()!r} is not a duration like 64, 5m, 15h or 2d")
    return int(match["n"]) * _UNIT_S[match["unit"]]


def normalise_each(rows: list[Row], convert: Callable[[Row], T]) -> list[T]:
    """Apply `convert` to every row; a ValueError becomes a RowError naming the row."""
    out: list[T] = []
    for index, row in enumerate(rows):
        try:
            out.append(convert(row))
        except RowError as exc:
            if exc.row is None:
                exc.row = index
            raise
        except ValueError as exc:
            raise RowError(str(exc), row=index) from None
    return out


def single_row(rows: list[Row], what: str) -> Row:
    """The one record of a single-record template (status outputs)."""
    if len(rows) != 1:
        raise RowError(f"expected one {what} record, found {len(rows)}", row=1 if rows else None)
    return rows[0]
