"""Simulated CatOS (through netmiko) and Windows (through OpenSSH-style exec) devices."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import paramiko
import pytest

from orchestrator.lab.runtime import DeviceEndpoint, Lab
from tests.lab.catos_netmiko import CatosSSH
from tests.lab.conftest import wait_for

LabMaker = Callable[..., tuple[Lab, list[DeviceEndpoint]]]


def catos_session(ep: DeviceEndpoint) -> CatosSSH:
    return CatosSSH(
        host=ep.address,
        port=ep.port,
        username=ep.username,
        password=ep.password,
        secret=ep.password,
        use_keys=False,
        allow_agent=False,
        device_type="cisco_ios",
    )


def test_catos_set_ntp_then_show_ntp_reports_the_sync(make_lab: LabMaker, ntp_server: int) -> None:
    _lab, (ep,) = make_lab({"name": "lab-cat1", "platform": "cisco_catos"}, ntp_port=ntp_server)
    conn = catos_session(ep)
    try:
        assert conn.find_prompt() == "lab-cat1>"
        conn.enable()
        assert conn.find_prompt() == "lab-cat1> (enable)"
        assert "NTP server 127.0.0.1 added" in conn.send_command("set ntp server 127.0.0.1")
        show = conn.send_command("show ntp")
        # Client mode is disabled by default: the server line alone does nothing.
        assert "Client mode: disabled" in show
        assert re.search(r"^127\.0\.0\.1\s*$", show, re.M)
        assert "Last NTP update:" in show.splitlines()[3]
        assert conn.send_command("set ntp client enable").strip() == (
            "NTP client mode enabled on this device."
        )

        def updated() -> str | None:
            line = conn.send_command("show ntp").splitlines()[3]
            return line if line != "Last NTP update:" else None

        assert wait_for(updated, timeout_s=30), "CatOS never synced"
        assert "set ntp server 127.0.0.1" in conn.send_command("show config")
        assert "removed" in conn.send_command("clear ntp server 127.0.0.1")
        assert conn.send_command("show bogus").startswith('Unknown command "show bogus".')
    finally:
        conn.disconnect()


def run(ep: DeviceEndpoint, command: str) -> tuple[int, str, str]:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        ep.address, ep.port, ep.username, ep.password, look_for_keys=False, allow_agent=False
    )
    try:
        _stdin, stdout, stderr = client.exec_command(command, timeout=10)
        status = stdout.channel.recv_exit_status()
        out, err = stdout.read().decode(), stderr.read().decode()
        # Windows writes CRLF line ends; compare text with plain newlines.
        assert "\n" not in out.replace("\r\n", "") and "\n" not in err.replace("\r\n", "")
        return status, out.replace("\r\n", "\n"), err.replace("\r\n", "\n")
    finally:
        client.close()


def test_windows_w32tm_config_update_resync_and_queries(
    make_lab: LabMaker, ntp_server: int
) -> None:
    _lab, (ep,) = make_lab({"name": "lab-win1", "platform": "windows"}, ntp_port=ntp_server)
    status, out, _ = run(ep, "w32tm /query /source")
    assert (status, out) == (0, "Local CMOS Clock\n")
    status, out, _ = run(
        ep, 'w32tm /config /manualpeerlist:"127.0.0.1,0x8" /syncfromflags:manual /update'
    )
    assert (status, out) == (0, "The command completed successfully.\n")
    status, out, _ = run(ep, "w32tm /resync")
    assert status == 0 and out.endswith("The command completed successfully.\n")

    def synced() -> str | None:
        _status, text, _ = run(ep, "w32tm /query /status")
        return text if "Source: 127.0.0.1,0x8" in text else None

    text = wait_for(synced, timeout_s=30)
    assert text, "w32time never synced"
    assert text.splitlines()[0] == "Leap Indicator: 0(no warning)"
    assert "ReferenceId: 0x7F000001 (source IP:  127.0.0.1)" in text
    _status, peers, _ = run(ep, "w32tm /query /peers")
    assert peers.startswith("#Peers: 1\n\nPeer: 127.0.0.1,0x8\nState: Active\n")
    _status, verbose, _ = run(ep, "w32tm /query /status /verbose")
    assert "State Machine: 2 (Sync)" in verbose
    assert "Last Sync Error: 0 (The command completed successfully.)" in verbose


def test_windows_interactive_cmd_session(make_lab: LabMaker) -> None:
    _lab, (ep,) = make_lab({"name": "lab-win4", "platform": "windows"})
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        ep.address, ep.port, ep.username, ep.password, look_for_keys=False, allow_agent=False
    )
    try:
        chan = client.invoke_shell()
        chan.send("hostname\r\nexit\r\n")
        data = b""
        while not chan.exit_status_ready() or chan.recv_ready():
            if chan.recv_ready():
                data += chan.recv(65536)
            else:
                time.sleep(0.02)
        text = data.decode()
        assert text.startswith("Microsoft Windows [Version 10.0.")
        assert f"C:\\Users\\{ep.username}>hostname\r\nlab-win4\r\n" in text
    finally:
        client.close()


def test_windows_service_stopped_gives_the_real_error_and_exit_code(make_lab: LabMaker) -> None:
    _lab, (ep,) = make_lab({"name": "lab-win2", "platform": "windows"})
    status, out, _ = run(ep, "net stop w32time")
    assert status == 0 and "was stopped successfully" in out
    status, _out, err = run(ep, "net stop w32time")
    assert status == 2 and "NET HELPMSG 3521" in err
    status, out, _ = run(ep, "w32tm /resync")
    assert status == 0x80070426
    assert "The service has not been started. (0x80070426)" in out
    status, out, _ = run(ep, "net start w32time && w32tm /query /source")
    assert status == 0 and out.endswith("Local CMOS Clock\n")
    status, _out, err = run(ep, "ntpq -p")
    assert status == 1 and err.startswith("'ntpq' is not recognized")


def test_windows_domain_policy_overrides_manual_peers(make_lab: LabMaker) -> None:
    _lab, (ep,) = make_lab(
        {"name": "lab-win3", "platform": "windows", "faults": _faults(domain_policy=True)}
    )
    run(ep, 'w32tm /config /manualpeerlist:"127.0.0.1,0x8" /syncfromflags:manual /update')
    _status, config, _ = run(ep, "w32tm /query /configuration")
    assert "NtpServer: time.windows.com,0x9 (Policy)" in config
    status, out, _ = run(ep, r"reg query HKLM\SOFTWARE\Policies\Microsoft\W32Time\Parameters")
    assert status == 0 and "NtpServer    REG_SZ    time.windows.com,0x9" in out
    _status, peers, _ = run(ep, "w32tm /query /peers")
    assert "Peer: time.windows.com,0x9\nState: Pending" in peers


def _faults(**kw: object) -> object:
    from orchestrator.lab import Faults

    return Faults(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["show ntp", "sh ntp"])
def test_catos_show_ntp_works_in_user_mode(make_lab: LabMaker, command: str) -> None:
    _lab, (ep,) = make_lab({"name": "lab-cat2", "platform": "cisco_catos"})
    conn = catos_session(ep)
    try:
        assert conn.send_command(command).splitlines()[1] == (
            "Timezone: '', offset from UTC is 0 hours"
        )
    finally:
        conn.disconnect()


def test_windows_manual_peer_list_with_two_peers_quoted_either_way(make_lab: LabMaker) -> None:
    _lab, (ep,) = make_lab({"name": "lab-win5", "platform": "windows"})
    for peers_arg in (
        '/manualpeerlist:"127.0.0.91,0x8 127.0.0.92,0x8"',
        '"/manualpeerlist:127.0.0.91,0x8 127.0.0.92,0x8"',
    ):
        status, _, _ = run(ep, f"w32tm /config {peers_arg} /syncfromflags:manual /update")
        assert status == 0
        _status, peers, _ = run(ep, "w32tm /query /peers")
        assert peers.startswith("#Peers: 2\n")
        assert "Peer: 127.0.0.91,0x8\n" in peers and "Peer: 127.0.0.92,0x8\n" in peers
    _status, config, _ = run(ep, "w32tm /query /configuration")
    assert "Type: NTP (Local)" in config
    assert "NtpServer: 127.0.0.91,0x8 127.0.0.92,0x8 (Local)" in config


def test_windows_stripchart_measures_the_real_offset(make_lab: LabMaker, ntp_server: int) -> None:
    _lab, (ep,) = make_lab(
        {"name": "lab-win6", "platform": "windows", "clock_error_s": 0.3}, ntp_port=ntp_server
    )
    status, out, _ = run(
        ep, "w32tm /stripchart /computer:127.0.0.1 /samples:2 /period:0.2 /dataonly"
    )
    lines = out.splitlines()
    assert status == 0
    assert lines[:2] == [f"Tracking 127.0.0.1 [127.0.0.1:{ntp_server}].", "Collecting 2 samples."]
    assert lines[2].startswith("The current time is ")
    samples = [re.fullmatch(r"\d\d:\d\d:\d\d, ([+-]\d\d\.\d{7})s", line) for line in lines[3:]]
    assert len(samples) == 2 and all(samples)
    # The host's clock is 300 ms fast: the server is measured 300 ms behind it.
    assert all(abs(float(m[1]) + 0.3) < 0.02 for m in samples if m)
    _status, lost, _ = run(ep, "w32tm /stripchart /computer:127.0.0.67 /samples:1 /dataonly")
    assert lost.splitlines()[-1].endswith(", error: 0x800705B4")


def _catos_shell() -> object:
    from orchestrator.lab.catos import CatosDevice, CatosShell
    from orchestrator.lab.spec import DeviceSpec, LabSpec

    spec = DeviceSpec("DAL-C5500", "cisco_catos", "127.0.0.1")
    return CatosShell(
        CatosDevice(spec, LabSpec(devices=(spec,), poll_interval_s=None)), privileged=True
    )


def test_catos_prompt_and_show_config_all_ntp_block_match_the_real_ws_c5500() -> None:
    """Against ZipTie's WS-C5500 transcript (tests/parsers/cisco_catos/show_config_all)."""
    from pathlib import Path

    shell: Any = _catos_shell()
    assert shell.prompt() == "DAL-C5500> (enable) "
    real = (
        Path(__file__).parents[1]
        / "parsers/cisco_catos/show_config_all/ziptie_ws_c5500_catos64_ntp_defaults.raw"
    ).read_text()

    def block(text: str) -> list[str]:
        lines = text.splitlines()
        start = lines.index("#ntp")
        return lines[start : lines.index("!", start)]

    ours = shell.handle("show config all").output
    assert block(ours) == block(real)
    for marker in ("begin", "# ***** ALL (DEFAULT and NON-DEFAULT) CONFIGURATION *****", "end"):
        assert marker in ours.splitlines()


def test_catos_driver_reads_the_ntp_block_and_cross_checks_show_ntp(make_lab: LabMaker) -> None:
    from orchestrator.drivers.cisco_catos import CiscoCatosDriver
    from orchestrator.lab.catos import CatosShell

    lab, _ = make_lab({"name": "DAL-C5500", "platform": "cisco_catos"})
    shell = lab.call(lambda: CatosShell(lab.devices["DAL-C5500"], privileged=True))

    def say(line: str) -> str:
        out: str = lab.call(lambda: shell.handle(line).output)
        return out

    for line in (
        "set ntp server 127.0.0.10 key 7",
        "set ntp client enable",
        "set ntp key 7 trusted md5 s3cret",
    ):
        say(line)
    raw = {c: say(c) for c in ("show config", "show ntp")}
    state = CiscoCatosDriver().parse("sw", raw)
    assert [(s.address, s.key_id) for s in state.configured.servers] == [("127.0.0.10", 7)]
    assert state.configured.trusted_keys == (7,)
    assert state.warnings == ()
    # show ntp disagreeing with show config (as after a change not yet in effect)
    say("set ntp client disable")
    raw["show ntp"] = say("show ntp")
    warnings = CiscoCatosDriver().parse("sw", raw).warnings
    assert warnings == ("show config says NTP client mode is enabled, show ntp says disabled",)
