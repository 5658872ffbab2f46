"""Read hosts.yaml, groups.yaml and defaults.yaml into validated entries, one per host/group.

Each entry keeps its document and its path in it, so later checks (inheritance,
secrets) can still point at the line a value came from.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from orchestrator.inventory.problems import Problem, field_path, from_validation_error
from orchestrator.inventory.schema import DATA_KEYS, DefaultsModel, EntryModel, is_name
from orchestrator.inventory.yamlfile import Loc, PathKey, TaggedValue, YamlDocument

EntryKind = Literal["host", "group", "defaults"]


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    name: str
    doc: YamlDocument
    loc: Loc  # where the entry sits in its document: (name,) or () for defaults
    model: DefaultsModel  # EntryModel for hosts and groups
    extras: dict[str, str] = field(default_factory=dict)  # free text keys of `data:`

    @property
    def subject(self) -> str:
        return "defaults" if self.kind == "defaults" else f"{self.kind} {self.name}"

    @property
    def groups(self) -> list[str]:
        return list(getattr(self.model, "groups", None) or [])

    def line(self, *sub: PathKey) -> int:
        return self.doc.line_of((*self.loc, *sub))

    def problem(self, text: str, *sub: PathKey) -> Problem:
        return Problem(self.doc.display, self.line(*sub), self.subject, text)


def read_entries(
    doc: YamlDocument, kind: Literal["host", "group"]
) -> tuple[dict[str, Entry], list[Problem]]:
    """The hosts (or groups) of one file, validated; problems for every entry that fails."""
    problems = _duplicates(doc, kind)
    data = doc.data
    if data is None:
        return {}, problems
    if not isinstance(data, dict):
        problems.append(
            Problem(doc.display, 1, "", f"expected a mapping of {kind} names to their settings")
        )
        return {}, problems
    entries: dict[str, Entry] = {}
    for raw_name, raw in data.items():
        name = str(raw_name)
        subject = f"{kind} {name}"
        line = doc.line_of((raw_name,))
        if not is_name(name):
            problems.append(
                Problem(doc.display, line, subject, "name may use letters, digits, '_', '.', '-'")
            )
            continue
        entry, entry_problems = _entry(doc, kind, name, (raw_name,), raw)
        problems.extend(entry_problems)
        if entry is not None:
            entries[name] = entry
    return entries, problems


def read_defaults(doc: YamlDocument | None) -> tuple[Entry | None, list[Problem]]:
    if doc is None:
        return None, []
    problems = _duplicates(doc, "defaults")
    if doc.data is None:
        return None, problems
    entry, more = _entry(doc, "defaults", "defaults", (), doc.data)
    return entry, problems + more


def _entry(
    doc: YamlDocument, kind: EntryKind, name: str, loc: Loc, raw: Any
) -> tuple[Entry | None, list[Problem]]:
    subject = "defaults" if kind == "defaults" else f"{kind} {name}"
    if not isinstance(raw, dict):
        example = "{}" if kind == "defaults" else f"{name}: {{}}"
        text = f"expected a mapping of settings (write `{example}` for none)"
        return None, [Problem(doc.display, doc.line_of(loc), subject, text)]
    problems: list[Problem] = []
    raw = dict(raw)
    extras: dict[str, str] = {}
    if isinstance(raw.get("data"), dict):
        data = dict(raw["data"])
        for key in [k for k in data if k not in DATA_KEYS]:
            value = data.pop(key)
            why = _extra_problem(str(key), value)
            if why is None and value is None:
                continue  # Nornir reads a null as "not set"
            if why is None:
                extras[str(key)] = _as_text(value)
            else:
                problems.append(
                    Problem(doc.display, doc.line_of((*loc, "data", key)), subject, why)
                )
        if "sites" in data and kind != "defaults":
            problems.append(
                Problem(
                    doc.display,
                    doc.line_of((*loc, "data", "sites")),
                    subject,
                    "data.sites belongs in defaults.yaml (sites are declared once)",
                )
            )
        raw["data"] = data
    model_type = DefaultsModel if kind == "defaults" else EntryModel
    try:
        model = model_type.model_validate(raw)
    except ValidationError as exc:
        problems.extend(from_validation_error(exc, doc, loc, subject, model_type))
        return None, problems
    return Entry(kind, name, doc, loc, model, extras), problems


def _extra_problem(key: str, value: Any) -> str | None:
    """Why `data.<key>` cannot be kept as an extra, or None if it can."""
    close = difflib.get_close_matches(key, DATA_KEYS, n=1, cutoff=0.75)
    if close:
        return f"unknown key '{key}' under data (did you mean '{close[0]}'?)"
    if isinstance(value, TaggedValue):
        return f"data.{key}: tagged values such as {value.tag} are not supported; use plain text"
    return None


def _as_text(value: Any) -> str:
    """Extras are text for the drivers; lists and mappings (Nornir allows them) become JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _duplicates(doc: YamlDocument, kind: str) -> list[Problem]:
    problems = []
    for dup in doc.duplicates:
        if not dup.parent and kind in {"host", "group"}:
            subject = f"{kind} {dup.key}"
            text = f"duplicate {kind} name (first defined at line {dup.first_line})"
        else:
            subject = f"{kind} {dup.parent[0]}" if dup.parent and kind != "defaults" else kind
            path = field_path(dup.parent if kind == "defaults" else dup.parent[1:])
            under = f" under {path}" if path else ""
            text = f"duplicate key '{dup.key}'{under} (first at line {dup.first_line})"
        problems.append(Problem(doc.display, dup.line, subject, text))
    return problems
