"""Verify-run history behind one interface, on SQLite (default) or PostgreSQL (by URL):
save runs, query them by time and site, summarise sites, prune old runs per site.

    with HistoryStore("postgresql://orch@db:5432/ntp") as store:   # or a Path, or None
        run_id = store.save_run(verdicts, started_at=..., finished_at=...)
        store.runs(since=..., site="hq"); store.latest_per_site(); store.site_summaries(now=...)

Many processes may write at once (site collectors, two runs of one site): each run is
one transaction, ids come from the database, and retention only ever touches the sites
of the run that asks for it and never a site's newest run.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Select,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from orchestrator.errors import ConfigError
from orchestrator.models import Check, ClientLogEntry, DeviceState, DeviceVerdict, Verdict
from orchestrator.store import schema
from orchestrator.store.engine import (
    StoreError,
    corrupted,
    make_engine,
    translated,
)
from orchestrator.store.records import StoredDevice, StoredRun, light_device
from orchestrator.store.redact import redact_state, redact_text
from orchestrator.store.sites import SiteRunRow, SiteSummary, summarise
from orchestrator.store.tables import devices, runs
from orchestrator.store.target import StoreTarget, resolve_target

DAY_S = 86400.0
_CHUNK = 500  # ids per IN (...): SQLite limits bound parameters per statement


def evidence_of(state: DeviceState | None) -> dict[str, Any]:
    """The evidence kept for one device: parsed rows and the raw outputs."""
    if state is None:
        return {}
    return {
        "raw": {cmd: out for cmd, out in state.raw},
        "warnings": list(state.warnings),
        "configured": dataclasses.asdict(state.configured),
        "associations": [dataclasses.asdict(a) for a in state.associations],
        "status": dataclasses.asdict(state.status) if state.status else None,
    }


class HistoryStore:
    """One history database. Use as a context manager, or call `close()`.

    `db`: a SQLite file (Path or path string), a `postgresql://` URL, a StoreTarget, or
    None for `$ORCH_DB_URL` / the data directory's history.sqlite. `create=False` opens
    without creating tables in an empty database (readers: an empty one has no runs).
    """

    def __init__(self, db: Path | str | StoreTarget | None = None, *, create: bool = True) -> None:
        self.target = resolve_target(db)
        self._checked = False
        path = self.target.sqlite_path
        if path is not None and not create and not path.exists():
            # Never create a file just to find nothing in it.
            self._engine = make_engine(self.target)
            self._empty = True
            return
        with translated(self.target, writing=create):
            if path is not None and create:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._engine = make_engine(self.target)
        try:
            with translated(self.target, writing=False):
                found = schema.state(self._engine)
            self._empty = found.version == 0
            if found.too_new:
                raise StoreError(
                    f"{self.target}: history schema version {found.version} is newer than "
                    f"this orch understands ({found.latest})",
                    hint="upgrade orch or use another --db",
                )
            # SQLite files upgrade on open, as they always did. A shared PostgreSQL is
            # created on first use, but upgraded only on purpose (`orch db upgrade`),
            # when every collector's orch is new enough.
            if not found.current and (path is not None or found.version == 0):
                if found.version or create:
                    self.upgrade()
                    self._empty = False
            elif not found.current:
                raise StoreError(
                    f"{self.target}: history schema version {found.version} is older than "
                    f"this orch's ({found.latest})",
                    hint=f"run `orch db upgrade --db {self.target}` once, with every "
                    "collector's orch upgraded",
                )
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL)."""
        return self.target.sqlite_path

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------ schema

    def schema_state(self) -> schema.SchemaState:
        with translated(self.target, writing=False):
            return schema.state(self._engine)

    def upgrade(self) -> tuple[int, int]:
        """Bring the schema to the newest version; (before, after)."""
        with translated(self.target, writing=True):
            try:
                return schema.upgrade(self._engine)
            except schema.SchemaError as exc:
                raise StoreError(f"{self.target}: {exc}", hint="upgrade orch") from None

    def check_intact(self) -> None:
        """Refuse a damaged SQLite file before anything is written into it: the whole
        file is read (PRAGMA quick_check, ~0.4 s for 250 MB), so writers call it once
        before their work (verify does, before collecting). Damage met later, by any
        statement, is a StoreCorrupted too, and its transaction is rolled back."""
        if self.target.sqlite_path is None or self._checked:
            return
        with translated(self.target, writing=False), self._engine.connect() as conn:
            problems = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise corrupted(self.target, problems[0] if problems else "quick_check failed")
        self._checked = True

    # ------------------------------------------------------------------ writing

    def _write(self) -> Connection:
        conn = self._engine.connect()
        conn.execution_options(orch_write=True)
        return conn

    def save_run(
        self,
        verdicts: Sequence[DeviceVerdict],
        *,
        started_at: float,
        finished_at: float,
        site_filter: str | None = None,
        host_filter: Sequence[str] = (),
        unknown_clients: Sequence[ClientLogEntry] = (),
        secrets: Mapping[str, Sequence[str]] | None = None,
    ) -> int:
        """Store one run; returns its id. `secrets` maps host -> values to mask in evidence."""
        counts = {v.value: 0 for v in Verdict}
        for verdict in verdicts:
            counts[verdict.verdict.value] += 1
        compliant = counts[Verdict.COMPLIANT.value]
        rows = [self._device_row(v, (secrets or {}).get(v.host, ())) for v in verdicts]
        with translated(self.target, writing=True), self._write() as conn, conn.begin():
            key = conn.execute(
                insert(runs).values(
                    started_at=started_at,
                    finished_at=finished_at,
                    site_filter=site_filter,
                    host_filter=json.dumps(list(host_filter)),
                    total=len(verdicts),
                    compliant=compliant,
                    noncompliant=len(verdicts) - compliant,
                    counts=json.dumps(counts),
                    unknown_clients=json.dumps([dataclasses.asdict(e) for e in unknown_clients]),
                    collector=socket.gethostname(),
                )
            ).inserted_primary_key
            assert key is not None
            run_id = key[0]
            if rows:
                conn.execute(insert(devices), [{**row, "run_id": run_id} for row in rows])
        self._empty = False
        return int(run_id)

    @staticmethod
    def _device_row(v: DeviceVerdict, secrets: Sequence[str]) -> dict[str, Any]:
        state = redact_state(v.state, secrets) if v.state is not None else None
        checks = [
            {**dataclasses.asdict(c), "actual": redact_text(c.actual, secrets)} for c in v.checks
        ]
        return {
            "host": v.host,
            "site": v.site,
            "platform": v.platform,
            "verdict": v.verdict.value,
            "reason": redact_text(v.reason, secrets),
            "offset_ms": v.offset_ms,
            "stratum": v.stratum,
            "reach": v.reach,
            "peer": v.peer,
            "checks": json.dumps(checks),
            "evidence": "",
            "evidence_z": zlib.compress(json.dumps(evidence_of(state)).encode(), 6),
        }

    def prune(
        self,
        *,
        keep_days: float,
        now: float,
        detail_days: float | None = None,
        sites: Iterable[str] | None = None,
    ) -> int:
        """Delete runs older than `keep_days`; returns how many runs went.

        With `sites`, only those sites' devices go (a run goes once no device is left
        in it): a site collector prunes its own sites, never another's. Whatever the
        sites, the newest run of every site stays. With `detail_days`, rows older than
        that keep their verdict, reason and numbers but lose the raw evidence, and
        compliant rows also their (all-passed) checks: the trend stays, the bulk goes.
        """
        for option, value in (("--keep-days", keep_days), ("--keep-evidence-days", detail_days)):
            if value is not None and value < 0:
                raise ConfigError(f"{option} must be 0 or more, not {value:g}")
        chosen = None if sites is None else sorted(set(sites))
        if self._empty or chosen == []:
            return 0
        cutoff = now - keep_days * DAY_S
        old = select(runs.c.id).where(runs.c.started_at < cutoff)
        removed = 0
        with translated(self.target, writing=True), self._write() as conn, conn.begin():
            if conn.execute(old.limit(1)).first() is not None:  # most runs prune nothing
                removed = self._delete_old(conn, cutoff, chosen)
            if detail_days is not None:
                mine: ColumnElement[bool] = devices.c.run_id.in_(
                    select(runs.c.id).where(runs.c.started_at < now - detail_days * DAY_S)
                )
                if chosen is not None:
                    mine = and_(mine, devices.c.site.in_(chosen))
                conn.execute(
                    update(devices)
                    .where(
                        mine,
                        (devices.c.evidence_z.is_not(None)) | devices.c.evidence.not_in(["", "{}"]),
                    )
                    .values(evidence="{}", evidence_z=None)
                )
                conn.execute(
                    update(devices)
                    .where(mine, devices.c.verdict == "compliant", devices.c.checks != "[]")
                    .values(checks="[]")
                )
        return removed

    def _delete_old(self, conn: Connection, cutoff: float, sites: list[str] | None) -> int:
        if sites is None:
            newest = select(self._latest_ids().c.run_id)
            return int(
                conn.execute(
                    delete(runs).where(runs.c.started_at < cutoff, runs.c.id.not_in(newest))
                ).rowcount
                or 0
            )
        for site in sites:
            newest_of_site = (
                select(runs.c.id)
                .join(devices, devices.c.run_id == runs.c.id)
                .where(devices.c.site == site)
                .order_by(runs.c.started_at.desc(), runs.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            conn.execute(
                delete(devices).where(
                    devices.c.site == site,
                    devices.c.run_id.in_(select(runs.c.id).where(runs.c.started_at < cutoff)),
                    devices.c.run_id != newest_of_site,
                )
            )
        return int(
            conn.execute(
                delete(runs).where(
                    runs.c.started_at < cutoff,
                    ~exists().where(devices.c.run_id == runs.c.id),
                )
            ).rowcount
            or 0
        )

    # ------------------------------------------------------------------ reading

    def runs(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        site: str | None = None,
        full: bool = True,
    ) -> list[StoredRun]:
        """Runs in [since, until], oldest first; with `site`, only that site's devices
        (and only runs that judged at least one device of it). `full=False` leaves the
        raw evidence and the checks in the database: verdicts, reasons and numbers only
        (the history of a large report needs no more)."""
        if self._empty:
            return []
        query = select(
            runs.c.id,
            runs.c.started_at,
            runs.c.finished_at,
            runs.c.site_filter,
            runs.c.host_filter,
            runs.c.unknown_clients,
        ).order_by(runs.c.started_at, runs.c.id)
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        if until is not None:
            query = query.where(runs.c.started_at <= until)
        if site is not None:
            query = query.where(
                exists().where(devices.c.run_id == runs.c.id, devices.c.site == site)
            )
        with translated(self.target, writing=False), self._engine.connect() as conn, conn.begin():
            rows = conn.execute(query).all()
            found = self._devices(conn, [int(r[0]) for r in rows], site, full)
        return [_run(r, found.get(int(r[0]), ())) for r in rows]

    def get_run(self, run_id: int, *, site: str | None = None) -> StoredRun | None:
        if self._empty:
            return None
        with translated(self.target, writing=False), self._engine.connect() as conn:
            at = conn.execute(select(runs.c.started_at).where(runs.c.id == run_id)).scalar()
        if at is None:
            return None
        found = self.runs(since=float(at), until=float(at), site=site)
        return next((r for r in found if r.id == run_id), None)

    def latest_run(self, *, site: str | None = None) -> StoredRun | None:
        if self._empty:
            return None
        query = select(runs.c.id).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
        if site is not None:
            query = query.where(
                exists().where(devices.c.run_id == runs.c.id, devices.c.site == site)
            )
        with translated(self.target, writing=False), self._engine.connect() as conn:
            run_id = conn.execute(query).scalar()
        return None if run_id is None else self.get_run(int(run_id), site=site)

    def latest_per_site(self, *, since: float | None = None) -> list[StoredRun]:
        """Each site's last run (at or after `since`), narrowed to that site's devices."""
        if self._empty:
            return []
        latest = self._latest_ids(since)
        query = (
            select(
                runs.c.id,
                runs.c.started_at,
                runs.c.finished_at,
                runs.c.site_filter,
                runs.c.host_filter,
                runs.c.unknown_clients,
                latest.c.site,
            )
            .join(latest, latest.c.run_id == runs.c.id)
            .order_by(latest.c.site)
        )
        with translated(self.target, writing=False), self._engine.connect() as conn, conn.begin():
            rows = conn.execute(query).all()
            pairs = [(int(r[0]), str(r[6])) for r in rows]
            found = self._site_devices(conn, pairs)
        return [_run(r, found.get((int(r[0]), str(r[6])), ())) for r in rows]

    def site_summaries(self, *, now: float, since: float | None = None) -> list[SiteSummary]:
        """Every site in the database: its last run (whenever it was), its trend over the
        runs since `since`, its inferred schedule and whether it is stale."""
        if self._empty:
            return []
        latest = self._latest_ids()
        in_window = runs.c.started_at >= since if since is not None else literal(True)
        counted = (
            select(
                devices.c.run_id, runs.c.started_at, devices.c.site, devices.c.verdict, func.count()
            )
            .join(runs, runs.c.id == devices.c.run_id)
            .where(
                in_window
                | tuple_(devices.c.run_id, devices.c.site).in_(
                    select(latest.c.run_id, latest.c.site)
                )
            )
            .group_by(devices.c.run_id, runs.c.started_at, devices.c.site, devices.c.verdict)
        )
        with translated(self.target, writing=False), self._engine.connect() as conn, conn.begin():
            rows = [
                SiteRunRow(int(r[0]), float(r[1]), str(r[2]), str(r[3]), int(r[4]))
                for r in conn.execute(counted)
            ]
            times = self._schedule_times(conn, rows)
        return summarise(rows, now=now, schedule_times=times)

    def _schedule_times(self, conn: Connection, rows: list[SiteRunRow]) -> dict[str, list[float]]:
        """Recent run times of the sites with fewer than 3 runs among `rows`."""
        seen: dict[str, set[float]] = {}
        for row in rows:
            seen.setdefault(row.site, set()).add(row.started_at)
        out: dict[str, list[float]] = {}
        for site, times in seen.items():
            if len(times) >= 3:
                continue
            recent = (
                select(runs.c.started_at)
                .join(devices, devices.c.run_id == runs.c.id)
                .where(devices.c.site == site)
                .group_by(runs.c.id, runs.c.started_at)
                .order_by(runs.c.started_at.desc())
                .limit(11)
            )
            out[site] = [float(t) for t in conn.execute(recent).scalars()]
        return out

    def sites(self) -> list[str]:
        if self._empty:
            return []
        with translated(self.target, writing=False), self._engine.connect() as conn:
            query = select(devices.c.site).distinct().order_by(devices.c.site)
            return [str(s) for s in conn.execute(query).scalars()]

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _latest_ids(since: float | None = None) -> Any:
        """(site, run_id) of each site's newest run, as a subquery."""
        pairs = select(devices.c.site, devices.c.run_id).distinct().subquery("pairs")
        ranked = select(
            pairs.c.site,
            pairs.c.run_id,
            func.row_number()
            .over(
                partition_by=pairs.c.site,
                order_by=(runs.c.started_at.desc(), runs.c.id.desc()),
            )
            .label("rank"),
        ).join(runs, runs.c.id == pairs.c.run_id)
        if since is not None:
            ranked = ranked.where(runs.c.started_at >= since)
        inner = ranked.subquery("ranked")
        return select(inner.c.site, inner.c.run_id).where(inner.c.rank == 1).subquery("latest")

    @staticmethod
    def _device_query(full: bool) -> Select[Any]:
        columns = [
            devices.c.run_id,
            devices.c.host,
            devices.c.site,
            devices.c.platform,
            devices.c.verdict,
            devices.c.reason,
            devices.c.offset_ms,
            devices.c.stratum,
            devices.c.reach,
            devices.c.peer,
        ]
        if full:
            return select(*columns, devices.c.checks, devices.c.evidence, devices.c.evidence_z)
        # A history's rows: only the columns of the devices_verdicts index.
        return select(*columns)

    def _devices(
        self, conn: Connection, run_ids: Sequence[int], site: str | None, full: bool
    ) -> dict[int, list[StoredDevice]]:
        out: dict[int, list[StoredDevice]] = {}
        for start in range(0, len(run_ids), _CHUNK):
            query = self._device_query(full).where(
                devices.c.run_id.in_(run_ids[start : start + _CHUNK])
            )
            if site is not None:
                query = query.where(devices.c.site == site)
            query = query.order_by(devices.c.run_id, devices.c.site, devices.c.host)
            make = _device if full else _light_device
            result = conn.execute(query)
            found = result.all() if full else _plain_rows(result)
            # Rows come grouped by run: one list lookup per run, not per row.
            for run_id, rows in groupby(found, key=itemgetter(0)):
                out.setdefault(int(run_id), []).extend(map(make, rows))
        return out

    def _site_devices(
        self, conn: Connection, pairs: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], list[StoredDevice]]:
        out: dict[tuple[int, str], list[StoredDevice]] = {}
        wanted = set(pairs)
        ids = sorted({run_id for run_id, _ in pairs})
        for start in range(0, len(ids), _CHUNK):
            query = (
                self._device_query(True)
                .where(devices.c.run_id.in_(ids[start : start + _CHUNK]))
                .order_by(devices.c.run_id, devices.c.site, devices.c.host)
            )
            for r in conn.execute(query):
                key = (int(r[0]), str(r[2]))
                if key in wanted:
                    out.setdefault(key, []).append(_device(r))
        return out


def _plain_rows(result: CursorResult[Any]) -> list[Sequence[Any]]:
    """The driver's own row tuples, without a SQLAlchemy Row around each: for the
    100,000s of rows of a report's history, whose columns (text and numbers) both
    drivers already give as Python values and SQLAlchemy would not convert."""
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def unsaved_run(
    verdicts: Sequence[DeviceVerdict],
    *,
    started_at: float,
    finished_at: float,
    site_filter: str | None = None,
    host_filter: Sequence[str] = (),
    unknown_clients: Sequence[ClientLogEntry] = (),
    secrets: Mapping[str, Sequence[str]] | None = None,
) -> StoredRun:
    """A run as the store would give it back (id 0, secrets masked), for showing the
    results of a run that could not be stored."""
    found = []
    for v in verdicts:
        row = HistoryStore._device_row(v, (secrets or {}).get(v.host, ()))
        found.append(_device((0, *(row[c.name] for c in devices.columns if c.name != "run_id"))))
    return StoredRun(
        id=0,
        started_at=started_at,
        finished_at=finished_at,
        site_filter=site_filter,
        host_filter=tuple(host_filter),
        devices=tuple(found),
        unknown_clients=tuple(unknown_clients),
    )


def _run(r: Sequence[Any], found: Iterable[StoredDevice]) -> StoredRun:
    return StoredRun(
        id=int(r[0]),
        started_at=float(r[1]),
        finished_at=float(r[2]),
        site_filter=r[3],
        host_filter=tuple(json.loads(r[4])),
        devices=tuple(found),
        unknown_clients=tuple(ClientLogEntry(**e) for e in json.loads(r[5])),
    )


_VERDICTS = {v.value: v for v in Verdict}


def _light_device(r: Sequence[Any]) -> StoredDevice:
    """A device row without checks and evidence (a report's history: 100,000s of rows)."""
    return light_device(
        r[1], r[2], r[3], _VERDICTS.get(r[4]) or Verdict(r[4]), r[5], r[6], r[7], r[8], r[9]
    )


def _device(r: Sequence[Any]) -> StoredDevice:
    packed = r[12]
    return StoredDevice(
        host=r[1],
        site=r[2],
        platform=r[3],
        verdict=Verdict(r[4]),
        reason=r[5],
        offset_ms=r[6],
        stratum=r[7],
        reach=r[8],
        peer=r[9],
        checks=tuple(Check(**c) for c in json.loads(r[10])),
        evidence_json=zlib.decompress(packed).decode() if packed else r[11] or "{}",
    )


__all__ = ["DAY_S", "HistoryStore", "evidence_of", "unsaved_run"]
