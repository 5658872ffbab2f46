"""Cisco IOS-XR rows -> models. Columns and status lines are IOS's; only layout differs."""

from __future__ import annotations

from orchestrator.parsing.normalise_cisco_ios import associations, status
from orchestrator.parsing.types import Normaliser

NORMALISERS: dict[str, Normaliser] = {
    # The vrf of a wrapped row is parsed (VRF) but the Association model has no vrf.
    "cisco_xr_show_ntp_associations": associations,
    "cisco_xr_show_ntp_status": status,
}
