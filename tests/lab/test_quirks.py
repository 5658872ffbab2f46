"""Every real-device quirk of the lab (lab_faults), played one at a time, against stock
netmiko and against orch.

For each quirk two identical devices start: stock netmiko configures one the way its
documentation shows (enable, send_config_set, save_config), orch pushes the other. Stock
netmiko succeeding and orch failing must never happen. Where a real device lets a change
through, orch pushes (changed), pushes again (unchanged) and reads the servers back;
where the device refuses, orch fails with the device's words, sends no configuration
line in EXEC mode, never saves, and running and startup configurations are as before.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.drivers import get_driver
from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, push_hosts
from orchestrator.lab import Faults
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.models import Host, PushOutcome
from tests.engine.lab_fleet import IOS_STALE, desired_for
from tests.lab.test_ios_ntp import login

LabMaker = Callable[..., tuple[Lab, list[DeviceEndpoint]]]

# quirk -> (faults, what the device says when it refuses; None: it lets the change in)
QUIRKS: dict[str, tuple[Faults, str | None]] = {
    # the lab's older faults
    "slow_response": (Faults(slow_response_s=0.3), None),
    "no_calendar": (Faults(no_calendar=True), None),
    "access_group_block": (Faults(access_group_block=True), None),
    "unreachable_servers": (Faults(unreachable_servers=("127.0.0.10",)), None),
    "wrong_password": (Faults(wrong_password=True), "authentication failed"),
    "drop_on_command": (
        Faults(drop_on_command="ntp server 127.0.0.11"),
        "session dropped by the device",
    ),
    "refused_invalid": (
        Faults(reject_commands=("ntp server 127.0.0.11",)),
        "% Invalid input detected at '^' marker.",
    ),
    # the real-device quirks (device-quirks.md)
    "long_hostname": (Faults(hostname="dc1-core-router-01-edge"), None),
    "custom_prompt": (Faults(hostname="Loc-S123987345", prompt="%h-STP-1234%p"), None),
    "banner_no_newline": (Faults(banner="no_newline"), None),
    "banner_prompt_chars": (Faults(banner="prompt_chars", login_delay_s=1.0), None),
    "privilege15": (Faults(privilege15=True), None),
    "aaa_paging_refused": (Faults(aaa_refuse=("terminal length", "terminal width")), None),
    "syslog_plain": (Faults(syslog="plain"), None),
    "syslog_timestamps": (Faults(syslog="timestamps"), None),
    "save_confirm": (Faults(save_confirm=True), None),
    "save_slow": (Faults(save_delay_s=15.0), None),
    "keyboard_interactive": (Faults(keyboard_interactive=True), None),
    "input_buffer": (Faults(input_buffer=64), None),
    # a 64-column terminal: the 41-character ntp lines after a 28-character prompt scroll
    "echo_scrolls": (Faults(echo_width=64, hostname="dc1-core-router-01-edge"), None),
    "domain_lookup": (Faults(domain_lookup=True), None),
    "legacy_ssh": (Faults(legacy_ssh=True), None),
    "config_locked": (
        Faults(config_locked=True, domain_lookup=True),
        "Configuration mode locked exclusively by user 'netop'",
    ),
    "aaa_configure": (
        Faults(aaa_refuse=("configure terminal",)),
        "Command authorization failed.",
    ),
    "aaa_ntp_line": (
        Faults(aaa_refuse=("ntp server 127.0.0.11",)),
        "Command authorization failed.",
    ),
    "refused_incomplete": (
        Faults(reject_commands=("ntp server 127.0.0.11",), reject_message="incomplete"),
        "% Incomplete command.",
    ),
    "refused_ambiguous": (
        Faults(reject_commands=("ntp server 127.0.0.11",), reject_message="ambiguous"),
        "% Ambiguous command:",
    ),
    "refused_authorization": (
        Faults(reject_commands=("ntp server 127.0.0.11",), reject_message="authorization"),
        "% Authorization failed.",
    ),
}

WANTED = ("ntp server 127.0.0.10 iburst key 7 prefer", "ntp server 127.0.0.11 iburst")


def _state(lab: Lab, name: str) -> tuple[list[str], list[str]]:
    """Running (without the change timestamp) and startup configuration of a device."""

    def read() -> tuple[list[str], list[str]]:
        dev: Any = lab.devices[name]
        running = [ln for ln in dev.config.render() if "Last configuration change" not in ln]
        return running, list(dev.startup.render())

    result: tuple[list[str], list[str]] = lab.call(read)
    return result


def _netmiko_push(ep: DeviceEndpoint, lines: list[str]) -> bool:
    """Stock netmiko, as its documentation shows; True if the change is in and saved."""
    try:
        conn = login(ep, conn_timeout=5, read_timeout_override=8)  # ConnectHandler, enable
    except Exception:
        return False
    try:
        conn.send_config_set(lines)
        conn.save_config()
        running = conn.send_command("show running-config | include ^ntp server")
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.disconnect()
    return all(w in running for w in WANTED)


def _host(ep: DeviceEndpoint, **changes: Any) -> Host:
    return replace(ep.as_host(desired_for("cisco_ios")), **changes)


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirk_stock_netmiko_versus_orch(make_lab: LabMaker, quirk: str, tmp_path: Path) -> None:
    faults, refusal = QUIRKS[quirk]
    lab, (ep_nm, ep_orch) = make_lab(
        {"name": "nm-dev", "platform": "cisco_ios", "faults": faults, "startup_config": IOS_STALE},
        {
            "name": "orch-dev",
            "platform": "cisco_ios",
            "faults": faults,
            "startup_config": IOS_STALE,
        },
    )
    netmiko_ok = _netmiko_push(
        ep_nm,
        ["ntp authentication-key 7 md5 k3y-Value-7", "ntp trusted-key 7", *WANTED],
    )
    host = _host(ep_orch, ssh_legacy_algorithms=faults.legacy_ssh)
    options = PushOptions(
        known_hosts=tmp_path / "known_hosts",
        accept_new_host_keys=True,
        backups_dir=tmp_path / "backups",
        timeout_s=60.0,
        connect_timeout_s=10.0,
        workers=1,
    )
    before = _state(lab, "orch-dev")
    _, (first,) = push_hosts([host], options)
    orch_ok = first.outcome is PushOutcome.CHANGED
    assert not (netmiko_ok and not orch_ok), f"stock netmiko succeeded, orch did not: {first}"

    if refusal is None:
        assert first.outcome is PushOutcome.CHANGED, first
        _, (second,) = push_hosts([host], options)
        assert second.outcome is PushOutcome.UNCHANGED, second
        # verify reads the configured servers right
        driver = get_driver("cisco_ios")
        with open_session(host, known_hosts=options.known_hosts, timeout_s=10.0) as session:
            state = driver.parse(host.name, driver.collect(session))
        assert {s.address for s in state.configured.servers} == {"127.0.0.10", "127.0.0.11"}
        running, startup = _state(lab, "orch-dev")
        assert all(w in running for w in WANTED) and all(w in startup for w in WANTED)
        return

    assert first.outcome in (PushOutcome.FAILED, PushOutcome.ROLLED_BACK), first
    assert refusal in first.reason, first.reason
    assert _state(lab, "orch-dev") == before  # running and startup as they were
    history: list[tuple[str, str]] = lab.call(lambda: list(lab.devices["orch-dev"].history))
    in_exec = [
        line
        for mode, line in history
        if mode in ("user", "enable") and line.startswith(("ntp ", "no ntp "))
    ]
    assert not in_exec, f"configuration lines reached EXEC mode: {in_exec}"


def test_legacy_ssh_without_opt_in_names_what_the_device_offers(
    make_lab: LabMaker, tmp_path: Path
) -> None:
    _lab, (ep,) = make_lab(
        {"name": "old-ios", "platform": "cisco_ios", "faults": Faults(legacy_ssh=True)}
    )
    host = _host(ep)
    options = PushOptions(
        known_hosts=tmp_path / "kh", accept_new_host_keys=True, connect_timeout_s=10.0
    )
    _, (result,) = push_hosts([host], options)
    assert result.outcome is PushOutcome.FAILED
    assert "timed out" not in result.reason
    assert "diffie-hellman-group1-sha1" in result.reason and "ssh-rsa" in result.reason
    assert "data.ssh.legacy_algorithms: true" in result.reason


def test_paging_refused_by_aaa_long_output_is_read_whole(
    make_lab: LabMaker, tmp_path: Path
) -> None:
    lab, (ep,) = make_lab(
        {
            "name": "aaa-pager",
            "platform": "cisco_ios",
            "faults": Faults(aaa_refuse=("terminal length",)),
        }
    )
    host = _host(ep)
    with open_session(
        host, known_hosts=tmp_path / "kh", accept_new_host_keys=True, timeout_s=10.0
    ) as session:
        text = session.run("show running-config").output
    expected: list[str] = lab.call(lambda: lab.devices["aaa-pager"].config.render())
    assert len(expected) > 30  # more than one page of 24 lines
    assert "--More--" not in text
    assert [ln for ln in text.splitlines() if ln.strip()][-1] == "end"
    body = [ln for ln in text.splitlines() if ln and "Last configuration" not in ln]
    assert (
        body[-len(expected) + 5 :]
        == [ln for ln in expected if "Last configuration" not in ln][-len(expected) + 5 :]
    )


def test_long_hostname_prompts_are_cut_like_ios() -> None:
    """The lab's prompts, as the sources show them: exec full, config cut at 20."""
    from orchestrator.lab.ios import IosDevice, IosShell
    from orchestrator.lab.spec import DeviceSpec, LabSpec

    spec = DeviceSpec(
        "x", "cisco_ios", "127.0.0.1", faults=Faults(hostname="THIS.IS.A.PARTICULARLY.LONG")
    )
    shell = IosShell(
        IosDevice(spec, LabSpec(devices=(spec,), poll_interval_s=None)), privileged=True
    )
    assert shell.prompt() == "THIS.IS.A.PARTICULARLY.LONG#"
    shell.handle("configure terminal")
    assert shell.prompt() == "THIS.IS.A.PARTICULAR(config)#"
    assert re.fullmatch(r"\S+", shell.prompt())


@contextlib.contextmanager
def _raw_shell(ep: DeviceEndpoint) -> Iterator[Any]:
    """A bare paramiko shell channel on a lab device (no netmiko, no orch)."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(ep.address, port=ep.port, username=ep.username, password=ep.password)
    try:
        yield client.invoke_shell()
    finally:
        client.close()


def test_long_lines_scroll_in_the_echo(make_lab: LabMaker) -> None:
    """The lab really scrolls: the raw echo of a long line holds `$` and not its start."""
    _lab, (ep,) = make_lab(
        {"name": "narrow", "platform": "cisco_ios", "faults": Faults(echo_width=40)}
    )
    line = "show running-config | include ^ntp server"
    with _raw_shell(ep) as chan:
        chan.sendall((line + "\n").encode())
        seen = ""
        while "\r\n" not in seen or not seen.endswith("narrow>"):
            seen += chan.recv(4096).decode()
    echo = seen.split("\r\n")[0].split("\r")[-1]  # what the terminal shows last
    assert echo == "narrow>$" + line[-(40 - len("narrow>") - 2) :]


def test_a_fast_paste_loses_lines_on_a_small_input_buffer(make_lab: LabMaker) -> None:
    """The input_buffer fault is real: a block written at once loses lines, which is
    why orch sends one line at a time (and passes on this device above)."""
    lab, (ep,) = make_lab(
        {"name": "tiny-buf", "platform": "cisco_ios", "faults": Faults(input_buffer=64)}
    )
    block = [f"ntp server 127.0.9.{i}" for i in range(1, 11)]
    with _raw_shell(ep) as chan:
        for typed in ("enable", ep.password):
            chan.sendall((typed + "\n").encode())
            time.sleep(0.3)
        chan.sendall(("configure terminal\n" + "\n".join(block) + "\nend\n").encode())
        time.sleep(1.0)
    servers: list[str] = lab.call(
        lambda: [s.address for s in lab.devices["tiny-buf"].config.ntp_servers]
    )
    assert len(servers) < len(block)


@pytest.mark.parametrize(
    ("faults", "refusal"),
    [
        (Faults(legacy_ssh=True), None),
        (Faults(keyboard_interactive=True), None),
        (Faults(login_delay_s=1.0), None),
        (Faults(aaa_refuse=("set length",)), None),
        (Faults(aaa_refuse=("set ntp client",)), "Command authorization failed."),
    ],
    ids=["legacy_ssh", "keyboard_interactive", "login_delay", "aaa_paging", "aaa_set_line"],
)
def test_catos_quirks(
    make_lab: LabMaker, tmp_path: Path, faults: Faults, refusal: str | None
) -> None:
    lab, (ep,) = make_lab(
        {
            "name": "cat-q",
            "platform": "cisco_catos",
            "faults": faults,
            "startup_config": ("set ntp server 127.0.0.77",),
        }
    )
    host = replace(ep.as_host(desired_for("cisco_catos")), ssh_legacy_algorithms=faults.legacy_ssh)
    options = PushOptions(
        known_hosts=tmp_path / "kh", accept_new_host_keys=True, connect_timeout_s=10.0
    )
    before: list[str] = lab.call(lambda: lab.devices["cat-q"].ntp_block(defaults=True))
    _, (first,) = push_hosts([host], options)
    if refusal is None:
        assert first.outcome is PushOutcome.CHANGED, first
        _, (second,) = push_hosts([host], options)
        assert second.outcome is PushOutcome.UNCHANGED, second
        return
    assert first.outcome in (PushOutcome.FAILED, PushOutcome.ROLLED_BACK), first
    assert refusal in first.reason
    assert lab.call(lambda: lab.devices["cat-q"].ntp_block(defaults=True)) == before
