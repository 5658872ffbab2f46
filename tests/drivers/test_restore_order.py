"""Order of changes, apply and restore alike: add before remove.

A small model of a CLI whose lines have an identity (entering `ntp server X ...` replaces
X's line in place, `no ntp server X` removes it; server lines keep the order they were
entered in). Every prefix of the commands is a session that dropped after that line: the
device must never hold fewer servers than min(before, desired), never none when it had
one, and a complete restore must end with exactly the backed-up lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from orchestrator.drivers import cisco_catos, cisco_ios
from orchestrator.drivers.base import Backup
from orchestrator.drivers.cisco_ios import CiscoIosDriver
from orchestrator.models import DesiredNtp, NtpServerSpec

IOS = CiscoIosDriver()


_IOS_GLOBAL_ORDER = ("authentication-key", "authenticate", "trusted-key", "source")


def _ios_printed(lines: Sequence[str]) -> list[str]:
    """As `show running-config` prints them: global lines in a fixed order, then the
    server lines in the order they were entered."""
    rest = [ln for ln in lines if not ln.startswith("ntp server ")]
    rest.sort(key=lambda ln: (_IOS_GLOBAL_ORDER.index(ln.split()[1]), ln))
    return rest + [ln for ln in lines if ln.startswith("ntp server ")]


def _ios_run(lines: Sequence[str], commands: Sequence[str]) -> list[str]:
    """The running `ntp` lines after `commands` (the lab's IosConfig semantics)."""
    return _ios_printed(_ios_entered(lines, commands))


def _ios_entered(lines: Sequence[str], commands: Sequence[str]) -> list[str]:
    out = list(lines)
    for command in commands:
        if command.startswith("no "):
            out = [ln for ln in out if cisco_ios.removal_of(ln) != command]
            continue
        ident = cisco_ios.removal_of(command)
        for i, ln in enumerate(out):
            if cisco_ios.removal_of(ln) == ident:
                out[i] = command
                break
        else:
            out.append(command)
    return out


def _catos_run(lines: Sequence[str], commands: Sequence[str]) -> list[str]:
    out = list(lines)
    for command in commands:
        if command.startswith("clear ") or command.endswith(" disable"):
            out = [ln for ln in out if cisco_catos.removal_of(ln) != command]
            continue
        ident = cisco_catos.removal_of(command)
        for i, ln in enumerate(out):
            if cisco_catos.removal_of(ln) == ident:
                out[i] = command
                break
        else:
            out.append(command)
    return out


def _servers(lines: Sequence[str]) -> list[str]:
    return [ln for ln in lines if " server " in f" {ln} "]


def _check_every_prefix(
    run: Callable[[Sequence[str], Sequence[str]], list[str]],
    start: Sequence[str],
    commands: Sequence[str],
    floor: int,
) -> list[str]:
    for k in range(len(commands) + 1):
        state = run(start, commands[:k])
        assert len(_servers(state)) >= floor, (k, commands[:k], state)
    return run(start, commands)


STALE = [f"ntp server 127.0.0.{70 + i}" for i in range(6)]
CASES = {
    "all stale": STALE,
    "desired one kept with other options": ["ntp server 127.0.0.10", *STALE[:3]],
    "desired in the middle": [STALE[0], "ntp server 127.0.0.10 iburst", STALE[1]],
    "one server only": ["ntp server 127.0.0.77"],
    "with source and keys": [
        "ntp authentication-key 3 md5 060506324F41 7",
        "ntp source Loopback0",
        *STALE[:2],
    ],
}
DESIRED = DesiredNtp(
    (NtpServerSpec("127.0.0.10", prefer=True), NtpServerSpec("127.0.0.11")),
    update_calendar=False,
)


def _ios_plan(lines: Sequence[str]) -> tuple[str, ...]:
    text = "\n".join(lines) + "\n"
    backup = Backup(
        "r1",
        "cisco_ios",
        config_lines=tuple(lines),
        extra=((cisco_ios.SHOW_NTP_CONFIG, text),),
    )
    return IOS.render(DESIRED, IOS.current(backup), backup).commands


@pytest.mark.parametrize("case", CASES)
def test_ios_apply_then_restore_never_loses_a_server(case: str) -> None:
    before = CASES[case]
    floor = min(len(_servers(before)), len(DESIRED.servers))
    commands = _ios_plan(before)
    assert commands
    # A drop after any line of the apply, then a complete restore from there ...
    for k in range(len(commands) + 1):
        dropped = _check_every_prefix(_ios_run, before, commands[:k], floor)
        restore = cisco_ios.restore_commands(dropped, before)
        # ... and a drop after any line of that restore too.
        final = _check_every_prefix(_ios_run, dropped, restore, floor)
        assert final == list(before), (k, restore)
        assert not cisco_ios.restore_commands(final, before)


def test_ios_restore_adds_before_it_removes() -> None:
    now = ["ntp server 127.0.0.10 iburst prefer", "ntp server 127.0.0.11"]
    wanted = ["ntp server 127.0.0.77"]
    assert cisco_ios.restore_commands(now, wanted) == [
        "ntp server 127.0.0.77",
        "no ntp server 127.0.0.10",
        "no ntp server 127.0.0.11",
    ]


def test_ios_restore_of_a_changed_server_line_reenters_it_without_removing_it() -> None:
    now = ["ntp server 127.0.0.10 iburst key 7 prefer"]
    wanted = ["ntp server 127.0.0.10"]
    assert cisco_ios.restore_commands(now, wanted) == ["ntp server 127.0.0.10"]


def test_ios_restore_puts_servers_back_in_their_order_while_extras_still_serve() -> None:
    # The apply had removed .70 when the session dropped: .70 comes back at the end, so
    # .71 and .72 are re-entered after it, before the new servers go.
    now = ["ntp server 127.0.0.71", "ntp server 127.0.0.72", "ntp server 127.0.0.10"]
    wanted = STALE[:3]
    commands = cisco_ios.restore_commands(now, wanted)
    assert commands == [
        "ntp server 127.0.0.70",
        "no ntp server 127.0.0.71",
        "ntp server 127.0.0.71",
        "no ntp server 127.0.0.72",
        "ntp server 127.0.0.72",
        "no ntp server 127.0.0.10",
    ]
    assert _ios_run(now, commands) == wanted


@pytest.mark.parametrize(
    "before",
    [
        ["set ntp server 127.0.0.77"],
        ["set ntp client enable", "set ntp server 127.0.0.70", "set ntp server 127.0.0.71"],
        ["set ntp server 127.0.0.10", "set ntp server 127.0.0.70"],
    ],
)
def test_catos_apply_then_restore_never_loses_a_server(before: list[str]) -> None:
    driver = cisco_catos.CiscoCatosDriver()
    backup = Backup("sw1", "cisco_catos", config_lines=tuple(before))
    desired = DesiredNtp((NtpServerSpec("127.0.0.10"),), update_calendar=False)
    commands = driver.render(desired, driver.current(backup), backup).commands
    assert commands
    floor = 1
    for k in range(len(commands) + 1):
        dropped = _check_every_prefix(_catos_run, before, commands[:k], floor)
        restore = cisco_catos.restore_commands(dropped, before)
        final = _check_every_prefix(_catos_run, dropped, restore, floor)
        assert final == before, (k, restore)
