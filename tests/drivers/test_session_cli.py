"""The CLI transport: dialect patterns on real device texts, the shell's reading of
syslog lines, and sessions against the lab where a dialect's data alone changes what
happens (copy instead of write, each legacy key exchange)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.drivers.session import open_session
from orchestrator.drivers.transport.cli_session import CliSession, _answer
from orchestrator.drivers.transport.dialect import CATOS, IOS, Compiled
from orchestrator.drivers.transport.shell import Shell
from orchestrator.lab import Faults
from orchestrator.lab.runtime import DeviceEndpoint, Lab
from tests.engine.lab_fleet import desired_for

LabMaker = Callable[..., tuple[Lab, list[DeviceEndpoint]]]
C = Compiled.of(IOS)

# device-quirks.md: every way IOS refuses a line
REFUSALS = [
    "% Invalid input detected at '^' marker.",
    "% Incomplete command.",
    '% Ambiguous command:  "ntp s"',
    "Command authorization failed.",
    "% Authorization failed.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_every_refusal_text_is_a_failure(text: str) -> None:
    found = C.failures.search(f"r1(config)#ntp server 192.0.2.1\n   ^\n{text}\n")
    assert found is not None and found.group(0).strip() == text


@pytest.mark.parametrize(
    "text",
    [
        "%NTP is not enabled.",
        "%SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.31.0.24)",
        "Building configuration...\n[OK]",
        "ntp server 192.0.2.1 prefer",
    ],
)
def test_ordinary_output_is_not_a_failure(text: str) -> None:
    assert C.failures.search(text) is None


class _NoChannel:
    def get_transport(self) -> None:
        return None


SYSLOGS = [
    "%SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.31.0.24)",
    "*Mar  1 00:01:02.123: %SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.31.0.24)",
    "Dec  7 02:36:48.000 UTC: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
    "000123: *Mar  1 00:01:02.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
]


@pytest.mark.parametrize("line", SYSLOGS)
def test_syslog_lines_vanish_wherever_they_come(line: str) -> None:
    shell = Shell(_NoChannel(), C)  # type: ignore[arg-type]
    middle = f"write memory\r\nBuilding configuration...\r\n{line}\r\n[OK]\r\nr1#"
    assert shell.clean(middle) == "write memory\nBuilding configuration...\n[OK]\nr1#"
    after_prompt = f"end\r\nr1#\r\n{line}\r\n"
    assert shell.clean(after_prompt) == "end\nr1#"
    before_echo = f"\r\n{line}\r\nshow clock\r\n12:00:00\r\nr1#"
    assert _answer(shell.clean(before_echo), "show clock") == "12:00:00"


def test_prompts_of_any_length_and_custom_prompts_are_whole_lines() -> None:
    for prompt in ("r1#", "dc1-core-router-01-edge>", "Loc-S123987345-STP-1234#"):
        found = C.any_prompt.search(f"banner\n{prompt}")
        assert found is not None and found.group("prompt") == prompt
    assert C.config_prompt is not None
    assert C.config_prompt.search("x\nTHIS.IS.A.PARTICULAR(config)#")
    assert C.config_prompt.search("x\nLoc-S123987345(config-if)#")
    # a banner line with prompt characters is not a prompt
    assert (
        C.any_prompt.search("Cyril's very > Special >> message to # include ## >#>>## ###") is None
    )
    catos = Compiled.of(CATOS)
    found = catos.any_prompt.search("\nDAL-C5500> (enable) ")
    assert found is not None and found.group("prompt") == "DAL-C5500> (enable) "


def _session(ep: DeviceEndpoint, tmp_path: Path, **changes: Any) -> CliSession:
    host = replace(ep.as_host(desired_for("cisco_ios")), **changes)
    session = open_session(
        host, known_hosts=tmp_path / "kh", accept_new_host_keys=True, timeout_s=10.0
    )
    assert isinstance(session, CliSession)
    return session


def test_a_dialect_change_is_data_copy_asks_for_the_destination(
    make_lab: LabMaker, tmp_path: Path
) -> None:
    lab, (ep,) = make_lab({"name": "copy-dev", "platform": "cisco_ios"})
    with _session(ep, tmp_path) as session:
        session.d = Compiled.of(replace(IOS, save="copy running-config startup-config"))
        session.configure(["ntp server 127.0.0.10"])
        assert "[OK]" in session.save()
    startup: list[str] = lab.call(lambda: lab.devices["copy-dev"].startup.render())
    assert "ntp server 127.0.0.10" in startup


def test_refused_configure_terminal_sends_nothing(make_lab: LabMaker, tmp_path: Path) -> None:
    from orchestrator.errors import CommandRejected

    lab, (ep,) = make_lab(
        {"name": "locked", "platform": "cisco_ios", "faults": Faults(config_locked=True)}
    )
    with _session(ep, tmp_path) as session, pytest.raises(CommandRejected) as refused:
        session.configure(["ntp server 127.0.0.10"])
    assert refused.value.command == "configure terminal"
    assert "locked exclusively by user 'netop'" in str(refused.value)
    assert "nothing was sent" in str(refused.value)
    history = lab.call(lambda: list(lab.devices["locked"].history))
    assert not any("ntp server" in line for _mode, line in history)


@pytest.mark.parametrize(
    "kex",
    [
        "diffie-hellman-group1-sha1",
        "diffie-hellman-group14-sha1",
        "diffie-hellman-group-exchange-sha1",
    ],
)
def test_each_legacy_key_exchange_works_when_opted_in(
    make_lab: LabMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kex: str
) -> None:
    from orchestrator.lab import ssh

    monkeypatch.setitem(ssh.LEGACY_ALGORITHMS, "kex_algs", [kex])
    _lab, (ep,) = make_lab(
        {"name": "old-ios", "platform": "cisco_ios", "faults": Faults(legacy_ssh=True)}
    )
    with _session(ep, tmp_path, ssh_legacy_algorithms=True) as session:
        assert session.prompt == "old-ios#"
        transport: Any = session._client.get_transport()
        assert transport.agreed_kex == kex
        assert transport.host_key_type == "ssh-rsa"
        assert transport.local_cipher in ("aes128-cbc", "3des-cbc")


def test_a_refused_enable_secret_is_named_not_guessed(make_lab: LabMaker, tmp_path: Path) -> None:
    from orchestrator.errors import CommandRejected
    from orchestrator.models import Secret

    _lab, (ep,) = make_lab({"name": "enable-dev", "platform": "cisco_ios"})
    with _session(ep, tmp_path, enable_secret=Secret("not-the-secret")) as session:
        assert not session.privileged
        with pytest.raises(CommandRejected) as refused:
            session.configure(["ntp server 127.0.0.10"])
    assert "`enable` answered '% Bad secrets'" in str(refused.value)
    assert "not-the-secret" not in str(refused.value)


def test_a_banner_line_that_looks_like_a_prompt_is_not_one() -> None:
    # the banner's line ends in a newline; the prompt never does
    assert C.any_prompt.search("Welcome\nR1#\n") is None
    assert C.loose_prompt.search("Welcome to R1#\n") is None
    assert C.any_prompt.search("Welcome\ncore#") is not None
