"""Secrets by reference: `${env:NAME}`, `${env:NAME:-default}`, `${keyring:service/user}`.

Paths (data.ssh_key_file) may embed `${env:...}` references too (substitute_env).

A value without `${` is taken literally (Nornir files often carry lab passwords);
everything becomes a models.Secret, which masks itself when printed. The reference
text kept as `Secret.source` never includes a default value, since a default is
itself a secret.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.models import Secret
from orchestrator.redact import remember

_REFERENCE = re.compile(r"\$\{(?P<scheme>[A-Za-z]+):(?P<body>[^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INLINE = "inline"


class SecretProblem(Exception):
    """A reference that is malformed or cannot be resolved; the message is safe to show."""


@dataclass(frozen=True)
class Reference:
    scheme: str  # "env" or "keyring"
    name: str  # variable name, or "service/user"
    default: str | None = None

    @property
    def shown(self) -> str:
        """The reference as safe to print: a default value is replaced by an ellipsis."""
        suffix = ":-…" if self.default is not None else ""
        return f"${{{self.scheme}:{self.name}{suffix}}}"


def parse_reference(text: str) -> Reference | None:
    """The reference in `text`, None for a literal; SecretProblem if malformed."""
    if "${" not in text:
        return None
    match = _REFERENCE.fullmatch(text.strip())
    if match is None:
        raise SecretProblem(
            "malformed secret reference (write ${env:NAME}, ${env:NAME:-default} "
            "or ${keyring:service/user} as the whole value)"
        )
    scheme, body = match["scheme"], match["body"]
    if scheme == "env":
        name, sep, default = body.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            raise SecretProblem(f"'{name}' is not a valid environment variable name")
        return Reference("env", name, default if sep else None)
    if scheme == "keyring":
        service, sep, user = body.partition("/")
        if not sep or not service or not user:
            raise SecretProblem("a keyring reference needs ${keyring:service/user}")
        return Reference("keyring", body)
    raise SecretProblem(f"unknown secret scheme '{scheme}' (expected env or keyring)")


def make_secret(text: str, *, resolve: bool, environ: Mapping[str, str] | None = None) -> Secret:
    """A Secret for `text`. Unresolved (resolve=False) references hold an empty value."""
    reference = parse_reference(text)
    if reference is None:
        remember(text)  # the log redactor masks it from now on
        return Secret(text, INLINE)
    if not resolve:
        return Secret("", reference.shown)
    value = _lookup(reference, os.environ if environ is None else environ)
    remember(value)
    return Secret(value, reference.shown)


def substitute_env(
    text: str, *, resolve: bool = True, environ: Mapping[str, str] | None = None
) -> str:
    """`text` (a path, not a secret) with each `${env:NAME}` / `${env:NAME:-default}` in it
    replaced. SecretProblem for a malformed or keyring reference, and, when resolving, for
    an unset variable without a default; resolve=False keeps such a reference as written.
    As in the shell (and paths.data_dir()), an empty variable counts as unset."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v}

    def replace(match: re.Match[str]) -> str:
        reference = parse_reference(match[0])
        if reference is None or reference.scheme != "env":
            raise SecretProblem("only ${env:NAME} or ${env:NAME:-default} can appear in a path")
        if not resolve and reference.name not in env and reference.default is None:
            return match[0]
        return _lookup(reference, env)

    if "${" in _REFERENCE.sub("", text):
        raise SecretProblem(
            "malformed reference (write ${env:NAME} or ${env:NAME:-default} in a path)"
        )
    return _REFERENCE.sub(replace, text)


def path_references(text: str) -> tuple[Reference, ...]:
    """The well-formed `${env:...}` references embedded in a path (malformed ones are
    reported by substitute_env when the inventory loads)."""
    found: list[Reference] = []
    for match in _REFERENCE.finditer(text):
        try:
            reference = parse_reference(match[0])
        except SecretProblem:
            continue
        if reference is not None and reference.scheme == "env":
            found.append(reference)
    return tuple(found)


def _lookup(reference: Reference, environ: Mapping[str, str]) -> str:
    if reference.scheme == "env":
        value = environ.get(reference.name)
        if value is not None:
            return value
        if reference.default is not None:
            return reference.default
        raise SecretProblem(
            f"environment variable {reference.name} is not set "
            f"(export {reference.name}=..., or write ${{env:{reference.name}:-default}})"
        )
    service, _, user = reference.name.partition("/")
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        raise SecretProblem(
            f"{reference.shown} needs the keyring package (pip install keyring), "
            "or use ${env:NAME}"
        ) from None
    try:
        value = keyring.get_password(service, user)
    except Exception as exc:  # any backend failure; its type names the backend problem
        raise SecretProblem(
            f"keyring lookup {reference.shown} failed ({type(exc).__name__})"
        ) from None
    if value is None:
        raise SecretProblem(f"keyring has no password for {reference.shown}")
    return str(value)
