"""Real captures shared by the parsing tests (the same files tests/test_parser_cases.py checks)."""

from __future__ import annotations

from pathlib import Path

CASES = Path(__file__).resolve().parent.parent / "parsers"


def capture(relative: str) -> str:
    """A real capture from tests/parsers (see the .yml beside it for its source)."""
    return (CASES / relative).read_text(encoding="utf-8")


IOS_IPV6 = "cisco_xe/show_ntp_associations/genie_ipv6_peers_negative_offset.raw"
IOS_12X = "cisco_ios/show_ntp_associations/genie_12x_legend_column0_trailing_spaces.raw"
IOS_STATUS = "cisco_ios/show_ntp_status/genie_iosv_synced_reference_trailing_spaces.raw"
IOS_CONFIG_WITH_KEY = (
    "cisco_ios/show_running-config_include_ntp/ansible_fixture_auth_access_group_vrf.raw"
)
NXOS_PEER_STATUS = "cisco_nxos/show_ntp_peer-status/genie_selected_and_vrfs.raw"
