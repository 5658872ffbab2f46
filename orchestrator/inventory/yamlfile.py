"""YAML files that remember where each key was written.

PyYAML's composer gives every node its start mark; we build plain Python data from
the node tree ourselves so that we can (a) record the line of every mapping key and
sequence item, keyed by its path from the document root, and (b) refuse duplicate
keys, which PyYAML silently lets the last one win. Validation errors can then point
at `file:line` of the offending key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import InventoryError

PathKey = str | int
Loc = tuple[PathKey, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"

# Aliases (`*name`) repeat what their anchor holds; nested ones multiply ("billion
# laughs": 9 levels of 10 aliases are 10**9 values from a 1 kB file). The values they
# may add on top of the file's own are bounded, and so is nesting.
MAX_ALIAS_VALUES = 100_000
MAX_DEPTH = 100


@dataclass(frozen=True)
class TaggedValue:
    """A scalar with an application tag such as Ansible's `!vault`; never a valid value here."""

    tag: str
    value: str

    def __repr__(self) -> str:  # the value may be ciphertext; keep it out of messages
        return f"<{self.tag} value>"


@dataclass(frozen=True)
class Duplicate:
    """A mapping key that appears twice in the same mapping."""

    parent: Loc
    key: PathKey
    line: int
    first_line: int


@dataclass(frozen=True)
class YamlDocument:
    """The data of one YAML file plus the 1-based line of every key and list item."""

    display: str  # the file name as shown in messages
    data: Any
    lines: Mapping[Loc, int] = field(default_factory=dict)
    duplicates: tuple[Duplicate, ...] = ()

    def line_of(self, loc: Loc) -> int:
        """Line of `loc`, or of its nearest ancestor that has one (1 for the root)."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return 1

    def where(self, loc: Loc) -> str:
        return f"{self.display}:{self.line_of(loc)}"


def load_yaml(path: Path, display: str | None = None) -> YamlDocument:
    """Read and compose `path`; syntax errors become `file:line:column: ...` InventoryErrors."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(
            f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise InventoryError(f"{shown}: cannot read ({exc.strerror})") from None
    return parse_yaml(text, shown)


def parse_yaml(text: str, display: str) -> YamlDocument:
    try:
        loader = yaml.SafeLoader(text)  # checks every character before parsing starts
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise InventoryError(
            f"{display}:{line}:{column}: YAML syntax error: control character "
            f"U+{int(exc.character):04X} is not allowed in YAML (remove it)"
        ) from None
    try:
        root = loader.get_single_node()
    except RecursionError:  # PyYAML composes nested collections recursively
        raise InventoryError(_too_deep(display)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        start = exc.context_mark
        if exc.problem and exc.context and start and mark and start.line != mark.line:
            problem += f" ({exc.context} at line {start.line + 1})"
        if mark is None:
            raise InventoryError(f"{display}: YAML syntax error: {problem}") from None
        raise InventoryError(
            f"{display}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}"
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{display}: YAML syntax error: {exc}") from None
    builder = _Builder(loader, display, budget=_distinct_nodes(root) + MAX_ALIAS_VALUES)
    try:
        data = builder.build(root, ()) if root is not None else None
    except RecursionError:
        raise InventoryError(_too_deep(display)) from None
    finally:
        loader.dispose()
    return YamlDocument(display, data, builder.lines, tuple(builder.duplicates))


def _too_deep(where: str) -> str:
    return f"{where}: YAML nested more than {MAX_DEPTH} levels deep (flatten it)"


def _distinct_nodes(root: yaml.Node | None) -> int:
    """How many nodes the file itself has (an alias is the node it names, counted once)."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    return len(seen)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, display: str, budget: int) -> None:
        self.loader = loader
        self.display = display
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[Duplicate] = []
        self.budget = budget  # values we may still build (the file's own + aliases')

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.budget -= 1
        if self.budget < 0:
            mark = node.start_mark
            raise InventoryError(
                f"{self.display}:{mark.line + 1}: YAML aliases expand to more than "
                f"{MAX_ALIAS_VALUES} values (nested '*' references); write the values out"
            )
        if len(loc) > MAX_DEPTH:
            raise InventoryError(_too_deep(f"{self.display}:{node.start_mark.line + 1}"))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines.setdefault((*loc, index), item.start_mark.line + 1)
                items.append(self.build(item, (*loc, index)))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag.startswith("!"):
            return TaggedValue(node.tag, str(node.value))
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            raise InventoryError(
                f"{self.display}:{mark.line + 1}:{mark.column + 1}: YAML error: {exc.problem}"
            ) from None

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[PathKey, Any]:
        result: dict[PathKey, Any] = {}
        first_line: dict[PathKey, int] = {}
        merged: list[dict[PathKey, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                # `<<: *anchor` (or a list of them): lower priority than explicit keys.
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    built = self.build(source, loc)
                    if not isinstance(built, dict):
                        mark = source.start_mark
                        raise InventoryError(
                            f"{self.display}:{mark.line + 1}:{mark.column + 1}: "
                            "YAML error: '<<' merges only mappings"
                        )
                    merged.append(built)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                mark = key_node.start_mark
                raise InventoryError(
                    f"{self.display}:{mark.line + 1}:{mark.column + 1}: "
                    "YAML error: a key must be plain text, not a list or mapping"
                )
            key = self._scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in result:
                self.duplicates.append(Duplicate(loc, key, line, first_line[key]))
                continue
            first_line[key] = line
            self.lines[(*loc, key)] = line
            result[key] = self.build(value_node, (*loc, key))
        for source in merged:
            for key, value in source.items():
                result.setdefault(key, value)
        return result
