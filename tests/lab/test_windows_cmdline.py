"""How the simulated Windows host reads a command line: cmd.exe chaining, then argv.

The argv cases are the worked examples of Microsoft's "Parsing C command-line arguments"
(learn.microsoft.com, C language reference), which CommandLineToArgvW follows.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.windows import split_arguments, split_chain
from tests.lab.test_catos_windows import run

LabMaker = Callable[..., tuple[Lab, list[DeviceEndpoint]]]


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ('"a b c" d e', ["a b c", "d", "e"]),
        ('"ab\\"c" "\\\\" d', ['ab"c', "\\", "d"]),
        ('a\\\\\\b d"e f"g h', ["a\\\\\\b", "de fg", "h"]),
        ('a\\\\\\"b c d', ['a\\"b', "c", "d"]),
        ('a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]),
        ('a"b"" c d', ['ab"', "c", "d"]),
        # The w32tm forms: the quotes group the space-separated peer list.
        (
            'w32tm /config /manualpeerlist:"a,0x8 b,0x8" /update',
            ["w32tm", "/config", "/manualpeerlist:a,0x8 b,0x8", "/update"],
        ),
        ('"/manualpeerlist:a,0x8 b,0x8"', ["/manualpeerlist:a,0x8 b,0x8"]),
        ('x ""', ["x", ""]),  # an empty quoted argument is still an argument
        ("a\tb   c", ["a", "b", "c"]),
        ('x "unterminated quote', ["x", "unterminated quote"]),
    ],
)
def test_split_arguments_follows_the_runtime_rules(line: str, argv: list[str]) -> None:
    assert split_arguments(line) == argv


@pytest.mark.parametrize(
    ("line", "chain"),
    [
        ("a && b || c & d", [("&", "a "), ("&&", " b "), ("||", " c "), ("&", " d")]),
        ('echo "x & y" && z', [("&", 'echo "x & y" '), ("&&", " z")]),
        ("echo x ^& y", [("&", "echo x & y")]),
        (
            'w32tm /config /manualpeerlist:"a,0x8 b,0x8"',
            [("&", 'w32tm /config /manualpeerlist:"a,0x8 b,0x8"')],
        ),
    ],
)
def test_split_chain_honours_quotes_and_carets(line: str, chain: list[tuple[str, str]]) -> None:
    assert split_chain(line) == chain


def test_two_quoted_peers_then_a_chained_query_over_ssh(make_lab: LabMaker) -> None:
    _lab, (ep,) = make_lab({"name": "lab-win-cmd", "platform": "windows"})
    status, out, err = run(
        ep,
        'w32tm /config /manualpeerlist:"127.0.0.93,0x8 127.0.0.94,0x8" /syncfromflags:manual'
        " /update && w32tm /query /peers",
    )
    assert (status, err) == (0, "")
    assert out.startswith("The command completed successfully.\n#Peers: 2\n")
    assert "Peer: 127.0.0.93,0x8\n" in out and "Peer: 127.0.0.94,0x8\n" in out


def test_an_ampersand_inside_quotes_does_not_start_a_command(make_lab: LabMaker) -> None:
    _lab, (ep,) = make_lab({"name": "lab-win-amp", "platform": "windows"})
    status, out, err = run(ep, 'echo "a & hostname"')
    assert (status, out, err) == (0, '"a & hostname"\n', "")
