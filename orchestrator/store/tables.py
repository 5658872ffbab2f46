"""The history tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

These are the tables of the newest schema version; `schema.py` creates them in a new
database and upgrades older ones to them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

VERDICT_COLUMNS = (
    "run_id",
    "site",
    "host",
    "platform",
    "verdict",
    "offset_ms",
    "stratum",
    "reach",
    "peer",
    "reason",
)

# SQLite keeps INTEGER PRIMARY KEY (the rowid) as the releases before wrote it.
_RunId = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "runs",
    metadata,
    Column("id", _RunId, primary_key=True, autoincrement=True),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double, nullable=False),
    Column("site_filter", Text),
    Column("host_filter", Text, nullable=False, server_default="[]"),
    Column("total", Integer, nullable=False),
    Column("compliant", Integer, nullable=False),
    Column("noncompliant", Integer, nullable=False),
    Column("counts", Text, nullable=False),
    Column("unknown_clients", Text, nullable=False, server_default="[]"),
    # version 3: which machine stored the run (a site collector's host name)
    Column("collector", Text),
    Index("runs_started_at", "started_at"),
    sqlite_autoincrement=True,
)

devices = Table(
    "devices",
    metadata,
    Column("run_id", _RunId, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", Text, primary_key=True),
    Column("site", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("offset_ms", Double),
    Column("stratum", Integer),
    Column("reach", Integer),
    Column("peer", Text),
    Column("checks", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # version 1 rows; '' since version 2
    Column("evidence_z", LargeBinary),  # version 2: zlib-compressed JSON
    Index("devices_site", "site", "run_id"),
    Index("devices_host", "host", "run_id"),
    # version 3: every column of a report's history but the bulky ones (checks, evidence),
    # so that reading 100,000s of verdicts scans this index, not the evidence pages.
    Index("devices_verdicts", *VERDICT_COLUMNS),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)
