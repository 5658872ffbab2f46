"""The converters every normaliser relies on."""

from __future__ import annotations

import pytest

from orchestrator.parsing.types import RowError
from orchestrator.parsing.values import (
    duration_s,
    float_or_none,
    normalise_each,
    reach_from_octal,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("64", 64), ("5m", 300), ("15h", 54000), ("22d", 1900800), ("-", None), ("", None)],
)
def test_duration_suffixes(text: str, seconds: int | None) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize(
    ("text", "value"), [("377", 255), ("1", 1), ("376", 254), ("17", 15), ("0", 0), ("-", None)]
)
def test_reach_is_octal(text: str, value: int | None) -> None:
    assert reach_from_octal(text) == value


@pytest.mark.parametrize("text", ["8", "400", "abc"])
def test_reach_outside_the_register_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="reach"):
        reach_from_octal(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("15937.", 15937.0), ("-3.705", -3.705), ("+0.5", 0.5), ("-518066", -518066.0), ("-", None)],
)
def test_numbers_as_devices_print_them(text: str, value: float | None) -> None:
    assert float_or_none(text) == value


def test_row_errors_name_the_row() -> None:
    rows = [{"N": "1"}, {"N": "x"}]
    with pytest.raises(RowError) as caught:
        normalise_each(rows, lambda row: int(row["N"]))
    assert caught.value.row == 1
