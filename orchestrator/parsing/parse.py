"""parse_output / guess_command: text in, normalised models out."""

from __future__ import annotations

import re
import textwrap

from orchestrator.errors import ParseError
from orchestrator.models import Association, ConfiguredNtp, NtpStatus
from orchestrator.parsing import templates
from orchestrator.parsing.output import ParsedOutput
from orchestrator.parsing.registry import normaliser_for
from orchestrator.parsing.templates import IndexEntry, TemplateMismatch
from orchestrator.parsing.types import RowError

# A line the template rejects is quoted in the error, unless it may carry key material
# (`ntp authentication-key 1 md5 <key> 7`, a CatOS key table row): secrets never appear
# in errors.
_MAY_HOLD_KEY = re.compile(r"key|secret|passw|trusted", re.IGNORECASE)


# Tables whose header alone is a real answer, "no associations": chronyc prints just its
# header when chronyd has no sources (a fresh host, or every server removed).
_MAY_LIST_NOTHING = frozenset({"linux_chronyc_-n_sources"})


def _quote(line: str) -> str:
    if _MAY_HOLD_KEY.search(line):
        return "(not shown: it may hold key material)"
    return repr(line.strip())


def _known_commands(platform: str) -> str:
    return ", ".join(repr(e.canonical_command) for e in templates.entries_for(platform))


def _entries(platform: str) -> tuple[IndexEntry, ...]:
    entries = templates.entries_for(platform)
    if not entries:
        raise ParseError(
            f"no parsers for platform {platform!r}",
            platform=platform,
            hint=f"known platforms: {', '.join(templates.platforms())}",
        )
    return entries


def _parse_with(entry: IndexEntry, platform: str, text: str) -> ParsedOutput:
    command = entry.canonical_command
    if not text.strip():
        raise ParseError(
            f"{platform} {command!r}: the output is empty", platform=platform, command=command
        )
    # Captures pasted into docs and test fixtures are often indented as a block;
    # removing the common indentation keeps line numbers and real column-0 output intact.
    text = textwrap.dedent(text)
    try:
        result = templates.run_template(entry.template, text)
    except TemplateMismatch as exc:
        raise ParseError(
            f"{platform} {command!r}: unrecognised line {exc.line_number}: {_quote(exc.line)}",
            platform=platform,
            command=command,
            line=exc.line_number,
            hint="is this the output of that command? if so, please report this variant",
        ) from None
    if not result.rows:
        if entry.stem in _MAY_LIST_NOTHING:  # every line was recognised: a header alone
            return ParsedOutput(platform, command, associations=())
        raise ParseError(
            f"{platform} {command!r}: no {command!r} output recognised",
            platform=platform,
            command=command,
        )
    normalise = normaliser_for(entry.stem)
    try:
        try:
            model = normalise(result.rows)
        except RowError:
            raise
        except ValueError as exc:  # a single-record normaliser reading a value (status)
            raise RowError(str(exc), row=0 if len(result.rows) == 1 else None) from None
    except RowError as exc:
        line = (
            result.lines[exc.row] if exc.row is not None and exc.row < len(result.lines) else None
        )
        where = f"line {line}: " if line is not None else ""
        raise ParseError(
            f"{platform} {command!r}: {where}{exc}", platform=platform, command=command, line=line
        ) from None
    if isinstance(model, NtpStatus):
        return ParsedOutput(platform, command, status=model)
    if isinstance(model, ConfiguredNtp):
        return ParsedOutput(platform, command, config=model)
    associations: list[Association] = model
    return ParsedOutput(platform, command, associations=tuple(associations))


def parse_output(platform: str, command: str | None, text: str) -> ParsedOutput:
    """Parse one command's output. `command=None` guesses it from the output's shape.

    Raises ParseError (an InputError) naming platform, command and input line when the
    output has a line the template does not know, or nothing recognisable at all.
    """
    if command is None:
        command = guess_command(platform, text)
    _entries(platform)  # unknown platform: say so before "unknown command"
    entry = templates.find_entry(platform, command)
    if entry is None:
        raise ParseError(
            f"no parser for {platform} {command!r}",
            platform=platform,
            command=command,
            hint=f"known commands: {_known_commands(platform)}",
        )
    return _parse_with(entry, platform, text)


# "Router#", "RP/0/RP0/CPU0:router#", "R1(config)#do ", "switch> "
_PROMPT = re.compile(r"^\s*(?:\S*[#>]\s*)?(?:do\s+)?")
_ECHO_SEARCH_LINES = 5


def _echoed_entry(platform: str, text: str) -> IndexEntry | None:
    """The index entry of a command echoed at the top of a capture, if there is one."""
    lines = [line for line in text.splitlines() if line.strip()][:_ECHO_SEARCH_LINES]
    for line in lines:
        entry = templates.find_entry(platform, _PROMPT.sub("", line, count=1).strip())
        if entry is not None:
            return entry
    return None


def guess_command(platform: str, text: str) -> str:
    """The command that produced `text`: the command echoed in the capture when there is
    one and its template parses the text, else the first command in index order whose
    template parses the whole text."""
    candidates = _entries(platform)  # unknown platform: say so before "empty"
    if not text.strip():
        raise ParseError(
            f"{platform}: the output is empty; nothing to guess from", platform=platform
        )
    echoed = _echoed_entry(platform, text)
    if echoed is not None:
        candidates = (echoed, *(e for e in candidates if e is not echoed))
    for entry in candidates:
        try:
            _parse_with(entry, platform, text)
        except ParseError:
            continue
        return entry.canonical_command
    raise ParseError(
        f"{platform}: the output matches none of the known commands",
        platform=platform,
        hint=f"known commands: {_known_commands(platform)}; pass --command to see the failing line",
    )
