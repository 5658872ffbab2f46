"""Cisco CatOS rows -> models.

CatOS `show ntp` prints no peer table with statistics: only the client settings, the
last update time and the configured servers. The switch counts as synchronised when
client mode is enabled and an NTP update has happened.
"""

from __future__ import annotations

from orchestrator.models import ConfiguredNtp, NtpServerSpec, NtpStatus
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


def show_config(rows: list[Row]) -> ConfiguredNtp:
    """The `#ntp` block of `show config [all]`: servers (with keys), trusted keys and
    `set ntp authentication`. Client mode and broadcast settings have no field here
    (the CatOS driver reads them from the same lines)."""
    servers: list[NtpServerSpec] = []
    trusted: list[int] = []
    authenticate = False
    for row in rows:
        directive = row["DIRECTIVE"]
        if directive == "server" and row["ADDRESS"]:
            key = int(row["KEY"]) if row["KEY"] else None
            servers.append(NtpServerSpec(str(row["ADDRESS"]), key_id=key))
        elif directive == "key" and row["TRUST"] == "trusted" and row["KEY"]:
            trusted.append(int(row["KEY"]))
        elif directive == "authentication":
            authenticate = row["STATE"] == "enable"
    return ConfiguredNtp(
        servers=tuple(servers), authenticate=authenticate, trusted_keys=tuple(sorted(trusted))
    )


NORMALISERS: dict[str, Normaliser] = {
    "cisco_catos_show_ntp": show_ntp,
    "cisco_catos_show_config": show_config,
}
