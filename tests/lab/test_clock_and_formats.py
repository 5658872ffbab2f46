"""The device clock's error and drift; the IOS number formats measured on real captures."""

from __future__ import annotations

import pytest

from orchestrator.lab import clock as clock_module
from orchestrator.lab.clock import DeviceClock
from orchestrator.lab.formats import IOS_ASSOC_HEADER, ios_associations, ios_number, ios_when
from orchestrator.ntp.client import PeerAssociation, PollConfig


def test_clock_error_and_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_790_000_000.0]
    monkeypatch.setattr(clock_module.time, "time", lambda: now[0])
    device = DeviceClock(error_s=0.5, drift_ppm=100.0)
    assert device.now() == pytest.approx(now[0] + 0.5)
    now[0] += 1000.0  # 1000 s later a 100 ppm fast clock has gained 100 ms
    assert device.now() - now[0] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.481, "0.481"),  # Cisco NetAcad capture: delay 0.481
        (-1.071, "-1.071"),  # offset -1.071
        (63.199, "63.199"),  # disp 63.199
        (189.44, "189.44"),  # disp 189.44 (5 significant digits)
        (103.59, "103.59"),
        (15937.0, "15937."),  # empty filter, trailing dot
        (-249.96, "-249.96"),
    ],
)
def test_ios_numbers_keep_five_significant_digits(value: float, text: str) -> None:
    assert ios_number(value) == text


def test_ios_columns_line_up_with_the_header() -> None:
    # Column ends measured on the captures: st 36, when 43, poll 50, reach 56.
    assert IOS_ASSOC_HEADER.index("st") + 2 == 36
    assert IOS_ASSOC_HEADER.index("when") + 4 == 43
    assert IOS_ASSOC_HEADER.index("reach") + 5 == 56
    assert ios_when(None) == "-" and ios_when(61.9) == "61"


def test_rendered_row_puts_each_value_in_its_column() -> None:
    peer = PeerAssociation("10.3.30.100", 123, PollConfig(), now_s=0.0, precision=-18)
    peer.received, peer.stratum, peer.reach = 1, 3, 0o3
    peer.ref_id = bytes([51, 195, 104, 188])
    peer.last_reply_s = 92.0
    peer.tally = "*"
    peer.filter.delay_s, peer.filter.offset_s, peer.filter.dispersion_s = (
        0.001627,
        -0.001071,
        0.063199,
    )
    row = ios_associations([peer], now_s=100.0).splitlines()[2]
    # The row of the real capture, value for value (poll is 64 s: minpoll 6).
    assert row == "*~10.3.30.100     51.195.104.188   3      8     64     3  1.627  -1.071 63.199"
