"""Schema versions of the history database, and how a database gets to the newest.

A new database is created at the newest version from `tables.py`. An older one is
upgraded in place by the steps below, each in the same transaction as the version
stamp, under a lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so that
processes opening a new or old database at once never race.

Versions:
  1  runs and per-device verdicts with their evidence (first release)
  2  devices.evidence_z: evidence compressed (zlib JSON); `evidence` keeps version-1 rows
  3  runs.collector: the host name of the machine that stored the run (site collectors);
     index devices_verdicts: a report's history read without touching the evidence
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, inspect, select, text

from orchestrator.store.tables import VERDICT_COLUMNS, metadata, runs, schema_version

# Step N upgrades version N to N+1 (index 0 unused: version 0 means "no tables yet").
Step = Callable[[Connection], None]


def _add_column(table: str, column: str, sql_type: str) -> Step:
    def step(conn: Connection) -> None:
        if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))

    return step


def _blob(conn: Connection) -> None:
    kind = "BLOB" if conn.dialect.name == "sqlite" else "BYTEA"
    _add_column("devices", "evidence_z", kind)(conn)


def _v3(conn: Connection) -> None:
    _add_column("runs", "collector", "TEXT")(conn)
    columns = ", ".join(VERDICT_COLUMNS)
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS devices_verdicts ON devices ({columns})"))


STEPS: dict[int, Step] = {
    1: _blob,
    2: _v3,
}
SCHEMA_VERSION = 3
# PostgreSQL: one lock id for "orch history schema" (any constant; ours spells ORCH).
_PG_LOCK = 0x4F524348


class SchemaError(Exception):
    """The database's schema version is not one this orch can work with."""


@dataclass(frozen=True)
class SchemaState:
    version: int  # 0: no history tables yet
    latest: int = SCHEMA_VERSION

    @property
    def current(self) -> bool:
        return self.version == self.latest

    @property
    def too_new(self) -> bool:
        return self.version > self.latest


def read_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(select(func.max(schema_version.c.version))).scalar()
    return int(value or 0)


def state(engine: Engine) -> SchemaState:
    with engine.connect() as conn, conn.begin():
        return SchemaState(read_version(conn))


def upgrade(engine: Engine) -> tuple[int, int]:
    """Bring the database to SCHEMA_VERSION; returns (version before, after)."""
    with engine.connect() as conn:
        conn.execution_options(orch_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))
            before = read_version(conn)  # read again under the lock
            if before > SCHEMA_VERSION:
                raise SchemaError(
                    f"schema version {before} is newer than this orch understands "
                    f"({SCHEMA_VERSION})"
                )
            if before == 0:
                metadata.create_all(conn)
            else:
                for version in range(before, SCHEMA_VERSION):
                    STEPS[version](conn)
            if before != SCHEMA_VERSION:
                conn.execute(schema_version.delete())
                conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
    return before, SCHEMA_VERSION


def count_runs(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(runs)).scalar() or 0)
