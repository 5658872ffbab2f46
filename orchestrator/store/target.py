"""Which history database: a path or URL from `--db`, `$ORCH_DB_URL`, or the data directory.

    resolve_target("postgresql://orch@db.example:5432/ntp") -> StoreTarget (PostgreSQL)
    resolve_target("/var/lib/orch/history.sqlite")          -> StoreTarget (SQLite file)
    resolve_target(None)                                     -> $ORCH_DB_URL, else the default

PostgreSQL passwords come from where libpq looks for them (`PGPASSWORD`, `~/.pgpass`),
or from a `${env:NAME}` reference in the URL's password field. The URL shown to a
person (`StoreTarget.display`) never carries the password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from orchestrator import paths
from orchestrator.errors import ConfigError, SecretError

ENV_VAR = "ORCH_DB_URL"
_ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_SCHEMES = {
    "sqlite": "sqlite+pysqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


@dataclass(frozen=True)
class StoreTarget:
    """A resolved database location. `url` may hold a password: never print it."""

    url: URL
    sqlite_path: Path | None  # the file, for the SQLite backend

    @property
    def backend(self) -> str:
        return "sqlite" if self.sqlite_path is not None else "postgresql"

    @property
    def display(self) -> str:
        """What messages show: the file, or the URL without its password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        shown = self.url.set(drivername="postgresql", password=None)
        return shown.render_as_string(hide_password=True)

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:  # dataclass repr would show the URL with its password
        return f"StoreTarget({self.display!r})"


def scheduled_db(given: str | None, *, option: str = "--db") -> str | None:
    """What a scheduled job passes as --db: the SQLite file as an absolute path, a URL as
    given (a `${env:NAME}` reference stays unresolved, for the job's environment), or
    None for the default. A password written into the URL is refused: the job's unit
    file or crontab line is no place for it."""
    text = given or os.environ.get(ENV_VAR) or None
    if text is None:
        return None
    target = _parse(text, source=option, resolve_secrets=False)
    if target.sqlite_path is not None:
        return str(target.sqlite_path.absolute())
    if target.url.password is not None and not _ENV_REF.match(str(target.url.password)):
        raise ConfigError(
            f"{option} {target.display}: a password in the URL would be written into the schedule",
            hint="leave it out and give it in ~/.pgpass or PGPASSWORD, or as ${env:NAME}",
        )
    return text


def resolve_target(given: str | Path | StoreTarget | None, *, option: str = "--db") -> StoreTarget:
    """The database that `given` names, else `$ORCH_DB_URL`, else the data directory's."""
    if isinstance(given, StoreTarget):
        return given
    if given is None or given == "":
        env = os.environ.get(ENV_VAR, "")
        if env:
            return _parse(env, source=ENV_VAR)
        return sqlite_target(paths.history_db())
    if isinstance(given, Path):
        return sqlite_target(given)
    return _parse(given, source=option)


def sqlite_target(path: Path) -> StoreTarget:
    return StoreTarget(URL.create("sqlite+pysqlite", database=str(path)), path)


def _parse(text: str, *, source: str, resolve_secrets: bool = True) -> StoreTarget:
    if "://" not in text:
        return sqlite_target(Path(text).expanduser())
    scheme = text.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"{source}: unsupported database URL scheme {scheme!r}",
            hint="use postgresql://user@host:port/dbname, or a SQLite file path",
        )
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{source}: not a database URL (expected postgresql://user@host:port/dbname)"
        ) from None
    url = url.set(drivername=_SCHEMES[scheme])
    if url.drivername.startswith("sqlite"):
        if not url.database:
            raise ConfigError(f"{source}: a sqlite:/// URL needs a file path")
        return sqlite_target(Path(url.database).expanduser())
    if not url.database:
        raise ConfigError(
            f"{source} {_safe(url)}: no database name",
            hint="use postgresql://user@host:port/dbname",
        )
    if not resolve_secrets:
        return StoreTarget(url, None)
    return StoreTarget(url.set(password=_password(url, source)), None)


def _password(url: URL, source: str) -> str | None:
    """A `${env:NAME}` reference resolved; a literal password kept; none: libpq decides
    (PGPASSWORD, ~/.pgpass, peer or trust authentication)."""
    if url.password is None:
        return None
    ref = _ENV_REF.match(str(url.password))
    if ref is None:
        return str(url.password)
    value = os.environ.get(ref.group(1))
    if not value:
        raise SecretError(
            f"{source} {_safe(url)}: the password reference ${{env:{ref.group(1)}}} is not set",
            hint=f"export {ref.group(1)}, or leave the password out and use PGPASSWORD or "
            "~/.pgpass",
        )
    return value


def _safe(url: URL) -> str:
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=True)
