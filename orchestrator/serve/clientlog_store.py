"""The server's client log and counters, persisted in SQLite.

Written by the server workers (each adds its deltas with an upsert, so several
processes share one file safely: WAL mode, busy timeout), read by `orch verify`
(`read_client_log`) and `orch server status` (`read_status`).

Default location: `orchestrator.paths.client_log_db()`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ServerError
from orchestrator.models import ClientLogEntry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    address    TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen  REAL NOT NULL,
    requests   INTEGER NOT NULL,
    responses  INTEGER NOT NULL,
    drops      INTEGER NOT NULL,
    kods       INTEGER NOT NULL,
    key_id     INTEGER,
    nts        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_UPSERT_CLIENT = """
INSERT INTO clients (address, first_seen, last_seen, requests, responses, drops, kods, key_id,
                     nts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(address) DO UPDATE SET
    first_seen = min(first_seen, excluded.first_seen),
    last_seen  = max(last_seen, excluded.last_seen),
    requests   = requests + excluded.requests,
    responses  = responses + excluded.responses,
    drops      = drops + excluded.drops,
    kods       = kods + excluded.kods,
    key_id     = coalesce(excluded.key_id, key_id),
    nts        = nts + excluded.nts
"""

_UPSERT_COUNTER = """
INSERT INTO counters (name, value) VALUES (?, ?)
ON CONFLICT(name) DO UPDATE SET value = value + excluded.value
"""


@dataclass(frozen=True)
class ServerStatus:
    """Everything `orch server status` shows."""

    clients: tuple[ClientLogEntry, ...]
    counters: Mapping[str, int]
    meta: Mapping[str, str]


class ClientLogStore:
    """Writer side: one connection per worker, deltas added in one transaction."""

    def __init__(self, path: Path, timeout_s: float = 1.0) -> None:
        # A short busy timeout: workers flush from their packet loop and must not stall
        # behind a lock; a flush that times out is retried with the next one.
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            _add_nts_column(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise ServerError(
                f"cannot open the client log {path}: {exc}",
                hint="pass --client-log with a writable path",
            ) from None

    def add(
        self,
        deltas: Iterable[ClientLogEntry],
        counters: Mapping[str, int] | None = None,
    ) -> None:
        rows = [
            (
                d.address,
                d.first_seen,
                d.last_seen,
                d.requests,
                d.responses,
                d.drops,
                d.kods,
                d.key_id,
                d.nts,
            )
            for d in deltas
        ]
        counter_rows = [(k, v) for k, v in (counters or {}).items() if v]
        if not rows and not counter_rows:
            return
        with self._db:
            self._db.executemany(_UPSERT_CLIENT, rows)
            self._db.executemany(_UPSERT_COUNTER, counter_rows)

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items())
            )

    def reset_counters(self) -> None:
        """Counters describe one server run; the client log accumulates across runs."""
        with self._db:
            self._db.execute("DELETE FROM counters")

    def close(self) -> None:
        self._db.close()


def _add_nts_column(db: sqlite3.Connection) -> None:
    """A client log written before NTS has no `nts` column: add it (0 for old rows)."""
    columns = {str(r[1]) for r in db.execute("PRAGMA table_info(clients)")}
    if "nts" not in columns:
        with db:
            db.execute("ALTER TABLE clients ADD COLUMN nts INTEGER NOT NULL DEFAULT 0")


def _connect_ro(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise ServerError(f"cannot read the client log {path}: {exc}") from None


def read_client_log(path: Path) -> list[ClientLogEntry]:
    """Every client the server has seen, most recently seen first. [] if there is no log yet."""
    db = _connect_ro(path)
    if db is None:
        return []
    try:
        columns = {str(r[1]) for r in db.execute("PRAGMA table_info(clients)")}
        nts = "nts" if "nts" in columns else "0"  # a log of a server before NTS
        rows = db.execute(
            "SELECT address, first_seen, last_seen, requests, responses, drops, kods, key_id, "
            f"{nts} FROM clients ORDER BY last_seen DESC, address"
        ).fetchall()
    except sqlite3.Error as exc:
        raise ServerError(f"cannot read the client log {path}: {exc}") from None
    finally:
        db.close()
    return [
        ClientLogEntry(
            address=str(r[0]),
            first_seen=float(r[1]),
            last_seen=float(r[2]),
            requests=int(r[3]),
            responses=int(r[4]),
            drops=int(r[5]),
            kods=int(r[6]),
            key_id=None if r[7] is None else int(r[7]),
            nts=int(r[8]),
        )
        for r in rows
    ]


def read_status(path: Path) -> ServerStatus:
    """Client log + counters + run metadata (listen address, reference, start time)."""
    clients = tuple(read_client_log(path))
    db = _connect_ro(path)
    if db is None:
        return ServerStatus(clients=clients, counters={}, meta={})
    try:
        counters = {str(k): int(v) for k, v in db.execute("SELECT name, value FROM counters")}
        meta = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
    except sqlite3.Error as exc:
        raise ServerError(f"cannot read the client log {path}: {exc}") from None
    finally:
        db.close()
    return ServerStatus(clients=clients, counters=counters, meta=meta)
