"""Cisco-style command-line matching: tokens with offsets, unique-prefix keywords.

Real Cisco CLIs accept any unique abbreviation of a keyword (`sh run`, `conf t`,
`sh ntp as`) and point a caret at the first token they cannot match. The simulated
IOS and CatOS shells share this matcher so that abbreviations and error markers behave
the same way the real ones do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # offset of the token in the typed line


class CliError(Exception):
    """A command the CLI refuses. `position` is the caret offset in the typed line."""

    def __init__(self, kind: str, position: int = 0, text: str = "") -> None:
        super().__init__(kind)
        self.kind = kind  # "invalid", "incomplete", "ambiguous"
        self.position = position
        self.text = text


def tokenize(line: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        start = i
        while i < len(line) and not line[i].isspace():
            i += 1
        tokens.append(Token(line[start:i], start))
    return tokens


def match_keyword(token: Token, choices: Mapping[str, object] | tuple[str, ...]) -> str:
    """The keyword `token` abbreviates; CliError if none or several."""
    word = token.text.lower()
    names = tuple(choices)
    if word in names:
        return word
    hits = [name for name in names if name.startswith(word)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise CliError("invalid", token.start)
    raise CliError("ambiguous", token.start, token.text)


# A command tree: keyword -> subtree or handler(args). Handlers get the remaining tokens.
Handler = Callable[[list[Token]], str]
Node: TypeAlias = Handler | Mapping[str, "Node"]
Tree = Mapping[str, Node]


def dispatch(tree: Tree, tokens: list[Token], line_len: int) -> str:
    """Walk `tree` with `tokens` and run the handler reached."""
    node: Node = tree
    i = 0
    while not callable(node):
        if i >= len(tokens):
            raise CliError("incomplete", line_len)
        key = match_keyword(tokens[i], node)
        node = node[key]
        i += 1
    return node(tokens[i:])


def no_args(args: list[Token]) -> None:
    """A command that takes nothing more: the first extra token is invalid."""
    if args:
        raise CliError("invalid", args[0].start)


def int_token(token: Token, low: int, high: int) -> int:
    """An integer argument in [low, high]; the caret points at it otherwise."""
    try:
        value = int(token.text)
    except ValueError as exc:
        raise CliError("invalid", token.start) from exc
    if not low <= value <= high:
        raise CliError("invalid", token.start)
    return value


def int_arg(args: list[Token], low: int, high: int) -> int:
    """Exactly one integer argument."""
    if not args:
        raise CliError("incomplete")
    if len(args) > 1:
        raise CliError("invalid", args[1].start)
    return int_token(args[0], low, high)
