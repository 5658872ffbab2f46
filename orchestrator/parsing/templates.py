"""Find the TextFSM templates, read the clitable `index`, run a template over text.

Templates ship inside the wheel at ``orchestrator/_data/parsers`` (pyproject
force-include); in a source checkout they are at ``<repo>/parsers``. The index
follows ntc-templates' format (``Template, Hostname, Platform, Command``, with
``sh[[ow]]`` abbreviations); textfsm's own clitable can read it too.

A compiled TextFSM object is kept per thread and template and `Reset()` before each
parse, so a template is compiled once per process. Lines are fed one at a time so
that a template's ``-> Error`` can be reported with the input line number.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import textfsm

from orchestrator.errors import ParseError
from orchestrator.parsing.types import Row

INDEX_HEADER = ("Template", "Hostname", "Platform", "Command")
_COMPLETION = re.compile(r"\[\[(.+?)\]\]")
# First alternative of a (a|b) group, to spell the canonical command.
_FIRST_ALTERNATIVE = re.compile(r"\(([^()|]*)(?:\|[^()]*)?\)")
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class IndexEntry:
    """One line of the index: which template parses which command on which platform."""

    template: str  # file name, e.g. cisco_ios_show_ntp_associations.textfsm
    platform: re.Pattern[str]
    command: re.Pattern[str]
    canonical_command: str  # the command spelled out in full, e.g. "show ntp associations"
    platform_text: str

    @property
    def stem(self) -> str:
        return self.template.removesuffix(".textfsm")


def templates_dir() -> Traversable:
    """The parsers directory: packaged data first, else the source checkout's parsers/."""
    packaged = resources.files("orchestrator") / "_data" / "parsers"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "parsers"


def _expand_completion(command: str) -> str:
    """ntc-templates' `ab[[cd]]` -> `ab(c(d)?)?` (the clitable rule)."""

    def expand(match: re.Match[str]) -> str:
        chars = match.group(1)
        return "".join(f"({c}" for c in chars) + ")?" * len(chars)

    return _COMPLETION.sub(expand, command)


def _canonical(command: str) -> str:
    text = command.replace("[[", "").replace("]]", "")
    while True:
        simplified = _FIRST_ALTERNATIVE.sub(r"\1", text)
        if simplified == text:
            break
        text = simplified
    text = text.removesuffix("$").removeprefix("^")
    return _ESCAPE.sub(r"\1", text)


def parse_index(text: str, source: str = "index") -> tuple[IndexEntry, ...]:
    """Read a clitable index (comments `#`, blank lines, a header line, CSV rows)."""
    entries: list[IndexEntry] = []
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = [f.strip() for f in stripped.split(",", 3)]
        if not header_seen:
            if tuple(fields) != INDEX_HEADER:
                raise ParseError(f"{source}:{number}: header must be {', '.join(INDEX_HEADER)}")
            header_seen = True
            continue
        if len(fields) != 4:
            raise ParseError(f"{source}:{number}: expected 4 comma-separated fields")
        template, _hostname, platform, command = fields
        entries.append(
            IndexEntry(
                template=template,
                platform=re.compile(platform),
                command=re.compile(_expand_completion(command)),
                canonical_command=_canonical(command),
                platform_text=platform,
            )
        )
    return tuple(entries)


@cache
def index_entries() -> tuple[IndexEntry, ...]:
    return parse_index((templates_dir() / "index").read_text(encoding="utf-8"))


def normalise_command(command: str) -> str:
    return " ".join(command.split())


def entries_for(platform: str) -> tuple[IndexEntry, ...]:
    return tuple(e for e in index_entries() if e.platform.fullmatch(platform))


def find_entry(platform: str, command: str) -> IndexEntry | None:
    """The index entry whose Platform and Command match in full (abbreviations allowed)."""
    wanted = normalise_command(command)
    for entry in entries_for(platform):
        if entry.command.fullmatch(wanted):
            return entry
    return None


def platforms() -> tuple[str, ...]:
    """Platform ids named literally in the index, in index order."""
    seen: dict[str, None] = {}
    for entry in index_entries():
        if re.fullmatch(r"[\w-]+", entry.platform_text):
            seen.setdefault(entry.platform_text)
    return tuple(seen)


# --------------------------------------------------------------------------- running templates


@cache
def _template_text(template: str) -> str:
    path = templates_dir() / template
    if not path.is_file():
        raise ParseError(f"template {template} is listed in the parsers index but missing")
    return path.read_text(encoding="utf-8")


_local = threading.local()


def _fsm(template: str) -> textfsm.TextFSM:
    cache_: dict[str, textfsm.TextFSM] | None = getattr(_local, "fsms", None)
    if cache_ is None:
        cache_ = _local.fsms = {}
    fsm = cache_.get(template)
    if fsm is None:
        fsm = textfsm.TextFSM(io.StringIO(_template_text(template)))
        # Lines are fed one at a time (for line numbers), so `-> End` cannot stop the
        # parse; templates reject unknown lines with `^. -> Error` instead.
        if any(rule.new_state == "End" for rules in fsm.states.values() for rule in rules):
            raise ParseError(f"template {template} uses '-> End', which orch does not support")
        cache_[template] = fsm
    else:
        fsm.Reset()
    return fsm


@dataclass(frozen=True)
class TemplateResult:
    rows: list[Row]
    lines: list[int]  # input line number (1-based) at which each row was recorded


class TemplateMismatch(Exception):
    """The template's `-> Error` fired: the text has a line this template does not know."""

    def __init__(self, line_number: int, line: str) -> None:
        super().__init__(f"line {line_number}: {line.strip()!r}")
        self.line_number = line_number
        self.line = line


def run_template(template: str, text: str) -> TemplateResult:
    """Parse `text` with one template; raise TemplateMismatch on the first unknown line."""
    fsm = _fsm(template)
    header: list[str] = fsm.header
    lines = text.splitlines()
    recorded: list[int] = []
    result: list[list[str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            # "\n" keeps blank lines: "".splitlines() would drop them.
            result = fsm.ParseText(line + "\n", eof=False)
        except textfsm.TextFSMError:
            raise TemplateMismatch(number, line) from None
        recorded.extend([number] * (len(result) - len(recorded)))
    result = fsm.ParseText("", eof=True)
    recorded.extend([len(lines)] * (len(result) - len(recorded)))
    rows = [dict(zip(header, (_as_text(v) for v in row), strict=True)) for row in result]
    return TemplateResult(rows=rows, lines=recorded)


def _as_text(value: object) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def command_slug(command: str) -> str:
    """A command as a directory name: `show ntp associations` -> `show_ntp_associations`."""
    return re.sub(r"[^\w.-]+", "_", command).strip("_")
