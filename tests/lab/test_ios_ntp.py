"""A simulated IOS device really synchronises over UDP: reach, delay and offset as measured."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netmiko import ConnectHandler

from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.serve.config import ServerConfig
from orchestrator.serve.runner import NtpServerRunner
from tests.lab.conftest import wait_for

ROW = re.compile(
    r"^(?P<tally>[*#+\-x ])~(?P<address>\S+)\s+(?P<ref>\S+)\s+(?P<st>\d+)\s+(?P<when>\S+)\s+"
    r"(?P<poll>\d+)\s+(?P<reach>[0-7]+)\s+(?P<delay>-?[\d.]+)\s+(?P<offset>-?[\d.]+)\s+"
    r"(?P<disp>[\d.]+)$"
)


def associations(conn: object, address: str) -> dict[str, str] | None:
    out = conn.send_command("show ntp associations")  # type: ignore[attr-defined]
    for line in out.splitlines():
        m = ROW.match(line)
        if m and m["address"] == address:
            return m.groupdict()
    return None


def login(ep: DeviceEndpoint, **extra: Any) -> Any:
    """An unmodified netmiko cisco_ios session on a lab device, in enable mode."""
    conn = ConnectHandler(
        device_type="cisco_ios",
        host=ep.address,
        port=ep.port,
        username=ep.username,
        password=ep.password,
        secret=ep.password,
        use_keys=False,
        allow_agent=False,
        **extra,
    )
    conn.enable()
    return conn


def test_ios_syncs_to_a_real_server_with_measured_offset(
    make_lab: Callable[..., tuple[Lab, list[DeviceEndpoint]]], ntp_server: int
) -> None:
    _lab, (ep,) = make_lab(
        {"name": "lab-r1", "platform": "cisco_ios", "clock_error_s": 0.75}, ntp_port=ntp_server
    )
    conn = login(ep)
    try:
        conn.send_config_set(["ntp server 127.0.0.1 iburst"])  # type: ignore[attr-defined]

        def synced() -> dict[str, str] | None:
            row = associations(conn, "127.0.0.1")
            return row if row and row["tally"] == "*" else None

        row = wait_for(synced, timeout_s=30)
        assert row, "no *~ on 127.0.0.1 within 30 s"
        assert int(row["reach"], 8) > 0
        assert int(row["st"]) == 9 - 1  # the server's stratum
        assert 0 < float(row["delay"]) < 50  # ms over loopback
        # The device clock is 750 ms fast, so the server is measured 750 ms behind.
        assert abs(float(row["offset"]) + 750) < 20
        status = conn.send_command("show ntp status")  # type: ignore[attr-defined]
        assert status.startswith("Clock is synchronized, stratum 9, reference is 127.0.0.1")
        assert re.search(r"clock offset is -7[45]\d\.\d{4} msec", status)
    finally:
        conn.disconnect()  # type: ignore[attr-defined]


def test_ios_pointed_at_a_down_server_shows_reach_0_and_no_sys_peer(
    make_lab: Callable[..., tuple[Lab, list[DeviceEndpoint]]], ntp_server: int
) -> None:
    _lab, (ep,) = make_lab({"name": "lab-r2", "platform": "cisco_ios"}, ntp_port=ntp_server)
    conn = login(ep)
    try:
        # Nothing listens on 127.0.0.66: every poll goes unanswered.
        conn.send_config_set(["ntp server 127.0.0.66"])  # type: ignore[attr-defined]
        time.sleep(3)  # six poll intervals (0.5 s) pass unanswered
        row = associations(conn, "127.0.0.66")
        assert row is not None
        assert row["reach"] == "0" and row["tally"] == " " and row["ref"] == ".INIT."
        assert row["st"] == "16" and row["when"] == "-"
        out = conn.send_command("show ntp associations")  # type: ignore[attr-defined]
        assert not any(line.startswith("*") for line in out.splitlines())
        assert conn.send_command("show ntp status").startswith(  # type: ignore[attr-defined]
            "Clock is unsynchronized, stratum 16, no reference clock"
        )
    finally:
        conn.disconnect()  # type: ignore[attr-defined]


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[int]:
    """orch's server with key 10 (SHA1, ASCII secret) in its keys file."""
    keys = tmp_path / "ntp.keys"
    keys.write_text("10 SHA1 ASCII:lab-shared-secret\n")
    config = ServerConfig(
        listen=("127.0.0.1",),
        port=0,
        reference="local",
        stratum=8,
        ratelimit=None,
        client_log=tmp_path / "clients.sqlite",
        workers=1,
        keys_file=keys,
    )
    with NtpServerRunner(config) as runner:
        ((_, port),) = runner.addresses
        yield port


@pytest.mark.parametrize(("secret", "syncs"), [("lab-shared-secret", True), ("wrong", False)])
def test_ntp_authenticate_syncs_only_with_the_servers_key(
    make_lab: Callable[..., tuple[Lab, list[DeviceEndpoint]]],
    keyed_server: int,
    secret: str,
    syncs: bool,
) -> None:
    _lab, (ep,) = make_lab({"name": "lab-auth", "platform": "cisco_ios"}, ntp_port=keyed_server)
    conn = login(ep)
    try:
        conn.send_config_set(  # type: ignore[attr-defined]
            [
                f"ntp authentication-key 10 sha1 {secret}",
                "ntp trusted-key 10",
                "ntp authenticate",
                "ntp server 127.0.0.1 key 10 iburst",
            ]
        )
        if syncs:
            row = wait_for(
                lambda: (r := associations(conn, "127.0.0.1")) and r["tally"] == "*" and r, 30
            )
            assert row, "no *~ with the right key"
        else:
            time.sleep(3)
            row = associations(conn, "127.0.0.1")
            assert row is not None and row["reach"] == "0" and row["tally"] == " "
        # The key is kept the IOS way: type 7, never in clear.
        run = conn.send_command("show running-config | include authentication-key")  # type: ignore[attr-defined]
        assert run.startswith("ntp authentication-key 10 sha1 ") and run.endswith(" 7")
        assert secret not in run
    finally:
        conn.disconnect()  # type: ignore[attr-defined]


def test_ios_honours_kod_rate_from_a_rate_limiting_server(
    make_lab: Callable[..., tuple[Lab, list[DeviceEndpoint]]], tmp_path: Path
) -> None:
    config = ServerConfig(
        listen=("127.0.0.1",),
        port=0,
        reference="local",
        stratum=8,
        # One request per 2 s on average, bursts of 4, KoD RATE to the rest.
        ratelimit=RateLimitConfig(interval=1, burst=4, leak=0, kod=True),
        client_log=tmp_path / "clients.sqlite",
        workers=1,
    )
    with NtpServerRunner(config) as runner:
        ((_, port),) = runner.addresses
        lab, (ep,) = make_lab({"name": "lab-kod", "platform": "cisco_ios"}, ntp_port=port)
        conn = login(ep)
        try:
            conn.send_config_set(["ntp server 127.0.0.1"])  # type: ignore[attr-defined]
            device = lab.devices["lab-kod"]

            def backed_off() -> bool:
                peers = lab.call(lambda: device.ntp.peers)
                return bool(peers and peers[0].kod_backoff >= 1)

            assert wait_for(backed_off, timeout_s=20), "no KoD RATE back-off"
            peer = lab.call(lambda: device.ntp.peers[0])
            assert peer.dropped.get("kod RATE", 0) >= 1
            assert peer.poll_interval_s >= 1.0  # doubled from the lab's 0.5 s
            row = wait_for(
                lambda: (r := associations(conn, "127.0.0.1")) and r["tally"] == "*" and r, 30
            )
            assert row, "a rate-limited device still synchronises at the slower pace"
        finally:
            conn.disconnect()  # type: ignore[attr-defined]
