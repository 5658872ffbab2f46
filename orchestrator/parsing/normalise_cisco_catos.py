"""Cisco CatOS rows -> models.

CatOS `show ntp` prints no peer table with statistics: only the client settings, the
last update time and the configured servers. The switch counts as synchronised when
client mode is enabled and an NTP update has happened.
"""

from __future__ import annotations

from orchestrator.models import NtpStatus
from orchestrator.parsing.types import Normaliser, Row, RowError
from orchestrator.parsing.values import single_row, text_or_none


def show_ntp(rows: list[Row]) -> NtpStatus:
    row = single_row(rows, "show ntp")
    if not row["CLIENT_MODE"]:
        raise RowError("no 'Client mode:' line", row=0)
    last_update = text_or_none(row["LAST_UPDATE"])
    return NtpStatus(
        synchronized=row["CLIENT_MODE"] == "enabled" and last_update is not None,
        stratum=None,
        reference=None,
        offset_ms=None,
        root_delay_ms=None,
        root_dispersion_ms=None,
        leap=None,
        last_sync=last_update,
    )


NORMALISERS: dict[str, Normaliser] = {"cisco_catos_show_ntp": show_ntp}
