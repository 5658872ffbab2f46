"""Turn validation failures into one line each: `file:line: host core1: what is wrong`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import InventoryError
from orchestrator.inventory.schema import ORCH_ERROR, SECRET_FIELDS
from orchestrator.inventory.yamlfile import Loc, PathKey, YamlDocument


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    subject: str  # "host core1", "group ios", "defaults"; may be empty
    text: str

    def __str__(self) -> str:
        subject = f" {self.subject}:" if self.subject else ""
        return f"{self.file}:{self.line}:{subject} {self.text}"


def raise_if_any(problems: Sequence[Problem]) -> None:
    """One InventoryError carrying every problem, one per line, ordered by file and line.

    Problems that differ only in the subject (ten hosts inheriting one bad value from
    defaults.yaml) become one line naming the first subject and how many more.
    """
    if not problems:
        return
    grouped: dict[tuple[str, int, str], list[str]] = {}
    for problem in problems:
        subjects = grouped.setdefault((problem.file, problem.line, problem.text), [])
        if problem.subject not in subjects:
            subjects.append(problem.subject)
    lines = []
    for (file, line, text), subjects in sorted(grouped.items(), key=lambda item: item[0][:2]):
        subject = subjects[0]
        if len(subjects) > 1:
            subject += f" (and {len(subjects) - 1} more)"
        lines.append(str(Problem(file, line, subject, text)))
    raise InventoryError("\n".join(lines))


def field_path(loc: Iterable[PathKey]) -> str:
    """('data', 'ntp', 'servers', 0, 'address') -> 'data.ntp.servers[0].address'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def from_validation_error(
    exc: ValidationError,
    doc: YamlDocument,
    base: Loc,
    subject: str,
    model: type[BaseModel],
) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        line = doc.line_of((*base, *loc))
        problems.append(Problem(doc.display, line, subject, _describe(error, loc, model)))
    return problems


def _describe(error: ErrorDetails, loc: Loc, model: type[BaseModel]) -> str:
    path = field_path(loc)
    kind = error["type"]
    secret = any(part in SECRET_FIELDS for part in loc if isinstance(part, str))
    if kind == ORCH_ERROR:
        return f"{path} {error['msg']}" if path else error["msg"]
    if kind == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        expected = _fields_at(model, parent)
        hint = ""
        close = difflib.get_close_matches(str(key), expected, n=1, cutoff=0.75)
        if close:
            hint = f"did you mean '{close[0]}'? "
        where = f" under {field_path(parent)}" if parent else ""
        return f"unknown key '{key}'{where} ({hint}expected one of {', '.join(expected)})"
    if kind == "missing":
        owner = field_path(loc[:-1])
        return f"{owner + ': ' if owner else ''}missing required key '{loc[-1]}'"
    got = "" if secret else f", got {_show(error['input'])}"
    message = _TYPE_MESSAGES.get(kind)
    if message is not None:
        return f"{path}: {message}{got}"
    bound = _BOUNDS.get(kind)
    if bound is not None:
        word, key = bound
        limit = error.get("ctx", {}).get(key)
        shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
        return f"{path}: must be {word} {shown}{got}"
    return f"{path}: {error['msg']}{got}"


_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}
_TYPE_MESSAGES = {
    "string_type": "expected text (quote it in YAML)",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping of key: value",
    "model_type": "expected a mapping of key: value",
    "model_attributes_type": "expected a mapping of key: value",
}


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found by walking `loc` through nested models."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        info = current.model_fields.get(str(part))
        if info is not None:  # else a key of a dict field such as data.sites.<name>: stay
            current = _nested_model(info.annotation)
    return list(current.model_fields) if current is not None else []


def _nested_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None
