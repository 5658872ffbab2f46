"""`orch db status` / `orch db upgrade` without the CLI: look at a history database and
upgrade its schema, on either backend, without the implicit upgrade of HistoryStore."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from orchestrator.store import schema
from orchestrator.store.engine import StoreError, corrupted, make_engine, translated
from orchestrator.store.tables import devices, runs
from orchestrator.store.target import StoreTarget


@dataclass(frozen=True)
class DbStatus:
    target: StoreTarget
    version: int  # 0: no history tables yet
    latest: int
    runs: int
    sites: int
    last_run_at: float | None
    exists: bool = True  # False: a SQLite file that is not there yet

    @property
    def current(self) -> bool:
        return self.version == self.latest

    @property
    def verdict(self) -> str:
        if not self.exists or self.version == 0:
            return "empty: the first `orch verify` creates it"
        if self.version > self.latest:
            return "newer than this orch: upgrade orch"
        if self.version < self.latest:
            return "needs `orch db upgrade`"
        return "up to date"


def db_status(target: StoreTarget) -> DbStatus:
    path = target.sqlite_path
    if path is not None and not path.exists():
        return DbStatus(target, 0, schema.SCHEMA_VERSION, 0, 0, None, exists=False)
    engine = make_engine(target)
    try:
        with translated(target, writing=False), engine.connect() as conn, conn.begin():
            if path is not None:
                problems = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise corrupted(target, problems[0] if problems else "quick_check failed")
            version = schema.read_version(conn)
            if version == 0:
                return DbStatus(target, 0, schema.SCHEMA_VERSION, 0, 0, None)
            count, last = conn.execute(select(func.count(), func.max(runs.c.started_at))).one()
            sites = conn.execute(select(func.count(devices.c.site.distinct()))).scalar()
        return DbStatus(
            target,
            version,
            schema.SCHEMA_VERSION,
            int(count or 0),
            int(sites or 0),
            None if last is None else float(last),
        )
    finally:
        engine.dispose()


def upgrade_db(target: StoreTarget) -> tuple[int, int]:
    """Create or upgrade the schema; (version before, after). Safe to run again."""
    if target.sqlite_path is not None:
        with translated(target, writing=True):
            target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    db_status(target)  # refuses a corrupted file before anything is written
    engine = make_engine(target)
    try:
        with translated(target, writing=True):
            return schema.upgrade(engine)
    except schema.SchemaError as exc:
        raise StoreError(f"{target}: {exc}", hint="upgrade orch") from None
    finally:
        engine.dispose()
