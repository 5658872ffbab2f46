"""The history database schema, as numbered migrations applied in order.

A new version appends a migration; existing databases pick it up on open. The
`schema_version` table holds the one number that says which ones ran.
"""

from __future__ import annotations

import sqlite3

from orchestrator.errors import ConfigError

MIGRATIONS: tuple[str, ...] = (
    # 1: runs and per-device verdicts with their evidence.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        site_filter TEXT,
        host_filter TEXT NOT NULL DEFAULT '[]',
        total INTEGER NOT NULL,
        compliant INTEGER NOT NULL,
        noncompliant INTEGER NOT NULL,
        counts TEXT NOT NULL,
        unknown_clients TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX runs_started_at ON runs(started_at);
    CREATE TABLE devices (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        site TEXT NOT NULL,
        platform TEXT NOT NULL,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        offset_ms REAL,
        stratum INTEGER,
        reach INTEGER,
        peer TEXT,
        checks TEXT NOT NULL,
        evidence TEXT NOT NULL,
        PRIMARY KEY (run_id, host)
    );
    CREATE INDEX devices_site ON devices(site, run_id);
    CREATE INDEX devices_host ON devices(host, run_id);
    """,
    # 2: evidence compressed (zlib JSON); `evidence` keeps rows written by version 1.
    # An hourly schedule over a large fleet stores raw outputs 24 times a day.
    """
    ALTER TABLE devices ADD COLUMN evidence_z BLOB;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database at `path` up to SCHEMA_VERSION (no-op when current)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: history schema version {current} is newer than this orch "
            f"understands ({SCHEMA_VERSION})",
            hint="upgrade orch or use another --db",
        )
    for version in range(current, SCHEMA_VERSION):
        with conn:
            conn.executescript("BEGIN;" + MIGRATIONS[version] + ";")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
