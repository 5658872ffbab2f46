"""SQLAlchemy engines for the two backends, and database errors as orch errors.

SQLite: one file, a 30 s busy timeout, foreign keys on, and transactions that orch
begins itself, so that a writer can take the write lock up front (BEGIN IMMEDIATE)
instead of failing half-way when another process writes. PostgreSQL: psycopg 3.

Every database error leaves this module as a one-line `StoreError` (exit 2) that says
what went wrong with which database and what to do; never with the URL's password.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from orchestrator.errors import ConfigError
from orchestrator.store.target import StoreTarget

SQLITE_BUSY_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10


class StoreError(ConfigError):
    """The history database cannot be used (exit 2)."""


class StoreCorrupted(StoreError):
    """The database file is damaged: orch reads nothing from it and writes nothing into it."""


class StoreWriteError(StoreError):
    """Writing failed: disk full, read-only file or directory, no permission."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached or refuses us."""


def make_engine(target: StoreTarget) -> Engine:
    if target.sqlite_path is not None:
        engine = create_engine(
            target.url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
            poolclass=NullPool,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # A small pool for the store's lifetime: one connection (TCP + SCRAM) serves the
    # open, save, prune and read-back of a run instead of one per statement group.
    return create_engine(
        target.url,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "orch"},
        pool_size=2,
        max_overflow=4,
    )


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # pysqlite begins nothing itself: see _sqlite_begin
    dbapi_conn.execute("PRAGMA foreign_keys = ON")


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for IMMEDIATE: the write lock is taken (or waited for) at BEGIN, so two
    # writers never both read the schema version and then race to create tables.
    mode = "IMMEDIATE" if conn.get_execution_options().get("orch_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


_CORRUPT = ("file is not a database", "malformed", "disk image", "not a database")
_WRITE = (
    "readonly",
    "read-only",
    "disk is full",
    "no space",
    "unable to open database file",
    "disk i/o error",
    "permission denied",
)


def corrupted(target: StoreTarget, detail: str) -> StoreCorrupted:
    path = target.display
    if target.sqlite_path is None:
        return StoreCorrupted(
            f"{path}: the history holds damaged data ({detail})",
            hint="restore the database from its backup, or ask its administrator",
        )
    return StoreCorrupted(
        f"{path}: the history database is corrupted ({detail}); orch will not write into it",
        hint=f"move it aside (mv {path} {path}.corrupt) so the next verify starts a new "
        f"history; `sqlite3 {path}.corrupt .recover` may save the old runs",
    )


def translate(target: StoreTarget, exc: BaseException, *, writing: bool) -> StoreError:
    """`exc`, raised by the database layer, as the one-line error a person can act on."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    detail = first_line(str(orig)) or type(orig).__name__
    if isinstance(orig, zlib.error | json.JSONDecodeError):
        return corrupted(target, f"a stored row does not decode: {detail}")
    low = detail.lower()
    if target.backend == "sqlite":
        if any(word in low for word in _CORRUPT):
            return corrupted(target, detail)
        if "locked" in low or "busy" in low:
            return StoreError(
                f"{target}: the history database stayed locked for "
                f"{SQLITE_BUSY_TIMEOUT_S:g} s ({detail})",
                hint="another orch is writing a very large run; try again",
            )
        if writing or any(word in low for word in _WRITE) or isinstance(orig, OSError):
            return StoreWriteError(
                f"{target}: cannot write the history database ({detail})",
                hint="free disk space or fix the directory's permissions, or store it "
                "elsewhere with --db / ORCH_DATA_DIR",
            )
        return StoreError(f"{target}: cannot use the history database ({detail})")
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate.startswith("53") or sqlstate in ("25006", "42501"):
        # 53xxx: disk full, out of memory; 25006 read-only transaction; 42501 no privilege
        return StoreWriteError(
            f"{target}: PostgreSQL refused the write ({detail})",
            hint="ask the database administrator: disk space, read-only replica, grants",
        )
    if sqlstate.startswith("08") or not sqlstate:
        return StoreUnavailable(
            f"{target}: cannot connect to PostgreSQL ({detail})",
            hint="check the host, port and database name, and the password in PGPASSWORD, "
            "~/.pgpass or the URL's ${env:...} reference",
        )
    return StoreError(f"{target}: PostgreSQL error {sqlstate} ({detail})")


def first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 200 else line[:200] + "..."


@contextmanager
def translated(target: StoreTarget, *, writing: bool) -> Iterator[None]:
    """Database errors inside the block leave it as StoreError."""
    try:
        yield
    except StoreError:
        raise
    except (SQLAlchemyError, sqlite3.Error, OSError, zlib.error, json.JSONDecodeError) as exc:
        raise translate(target, exc, writing=writing) from None
