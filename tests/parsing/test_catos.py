"""CatOS `show ntp`.

No public capture of this output was found (see AWAITING_REAL_CAPTURE in
tests/test_parser_cases.py). These tests pin the template to the layout of the Catalyst
CatOS command references, as the lab simulator renders it (orchestrator/lab/formats.py
cites the fields), so that the CatOS driver and the lab agree.
"""

from __future__ import annotations

import json

import pytest

from orchestrator.errors import ParseError
from orchestrator.lab import formats
from orchestrator.parsing import guess_command, parse_output

NOW = 1_700_000_000.0


def _render(*, last_update: float | None, client: bool) -> str:
    body = formats.catos_show_ntp(
        now_s=NOW,
        last_update_s=last_update,
        client_enabled=client,
        authentication=True,
        servers=[("192.0.2.10", 5), ("192.0.2.11", None)],
        keys=[(5, True, "c2VjcmV0LWtleS12YWx1ZQ")],
    )
    return f"Console> (enable) show ntp\n{body}\nConsole> (enable) "


def test_client_mode_with_an_update_is_synchronised() -> None:
    text = _render(last_update=NOW - 30, client=True)
    assert guess_command("cisco_catos", text) == "show ntp"
    status = parse_output("cisco_catos", "show ntp", text).status
    assert status is not None and status.synchronized
    assert status.last_sync == formats.catos_time(NOW - 30)


@pytest.mark.parametrize(("last_update", "client"), [(None, True), (NOW - 30, False)])
def test_no_update_or_client_mode_disabled_is_not_synchronised(
    last_update: float | None, client: bool
) -> None:
    status = parse_output(
        "cisco_catos", "show ntp", _render(last_update=last_update, client=client)
    )
    assert status.status is not None and status.status.synchronized is False


def test_key_strings_never_leave_the_parser() -> None:
    parsed = parse_output("cisco_catos", "show ntp", _render(last_update=None, client=True))
    assert "c2VjcmV0LWtleS12YWx1ZQ" not in json.dumps(parsed.to_json_dict())


def test_an_unknown_line_fails_with_its_number() -> None:
    text = _render(last_update=None, client=True).replace(
        "Broadcast delay: 3000 microseconds", "Broadcast delay: 3000 microseconds\nNTP peers: 2"
    )
    with pytest.raises(ParseError) as caught:
        parse_output("cisco_catos", "show ntp", text)
    assert caught.value.line == 8


def test_layout_variants_are_tolerated() -> None:
    # Not a capture: the same fields in the shapes older or key-less releases may print
    # (server column alone, '-' for no key, no key strings), so such output is not refused.
    text = "\n".join(
        [
            "Console> (enable) show ntp",
            "Current time: Tue Jun 23 1998, 20:29:25 pst",
            "Timezone: 'pst', offset from UTC is -8 hours",
            "Summertime: 'pst', disabled",
            "Last NTP update: Tue Jun 23 1998, 20:28:51",
            "Broadcast client mode: disabled",
            "Broadcast delay: 3000 microseconds",
            "Client mode: enabled",
            "NTP-Server",
            "----------------------------------------",
            "192.0.2.10",
            "time.example.net                         -",
            "Key Number Mode",
            "---------- ---------",
            "5          trusted",
            "Console> (enable) ",
        ]
    )
    assert guess_command("cisco_catos", text) == "show ntp"
    status = parse_output("cisco_catos", "show ntp", text).status
    assert status is not None and status.synchronized
    assert status.last_sync == "Tue Jun 23 1998, 20:28:51"
