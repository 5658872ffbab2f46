"""Verify-run history in SQLite: save runs, query them by time and site, prune old ones."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.models import Check, ClientLogEntry, DeviceState, DeviceVerdict, Verdict
from orchestrator.store.records import StoredDevice, StoredRun
from orchestrator.store.redact import redact_state, redact_text
from orchestrator.store.schema import migrate

DAY_S = 86400.0


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
    """One SQLite history file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30.0)
            self._conn.execute("PRAGMA foreign_keys = ON")
            migrate(self._conn, str(path))
        except (sqlite3.DatabaseError, OSError) as exc:
            raise ConfigError(
                f"{path}: cannot open the history database: {exc}",
                hint="pass another file with --db",
            ) from exc

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
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._conn:
            yield self._conn

    # ------------------------------------------------------------------ writing

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
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO runs (started_at, finished_at, site_filter, host_filter, total,"
                " compliant, noncompliant, counts, unknown_clients)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    started_at,
                    finished_at,
                    site_filter,
                    json.dumps(list(host_filter)),
                    len(verdicts),
                    compliant,
                    len(verdicts) - compliant,
                    json.dumps(counts),
                    json.dumps([dataclasses.asdict(e) for e in unknown_clients]),
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            conn.executemany(
                "INSERT INTO devices (run_id, host, site, platform, verdict, reason, offset_ms,"
                " stratum, reach, peer, checks, evidence, evidence_z)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [self._device_row(run_id, v, (secrets or {}).get(v.host, ())) for v in verdicts],
            )
        return run_id

    @staticmethod
    def _device_row(run_id: int, v: DeviceVerdict, secrets: Sequence[str]) -> tuple[Any, ...]:
        state = redact_state(v.state, secrets) if v.state is not None else None
        checks = [
            {**dataclasses.asdict(c), "actual": redact_text(c.actual, secrets)} for c in v.checks
        ]
        return (
            run_id,
            v.host,
            v.site,
            v.platform,
            v.verdict.value,
            redact_text(v.reason, secrets),
            v.offset_ms,
            v.stratum,
            v.reach,
            v.peer,
            json.dumps(checks),
            "",
            zlib.compress(json.dumps(evidence_of(state)).encode(), 6),
        )

    def prune(self, *, keep_days: float, now: float, detail_days: float | None = None) -> int:
        """Delete runs older than `keep_days`; returns how many went.

        With `detail_days`, rows older than that keep their verdict, reason and numbers
        but lose the raw evidence, and compliant rows also their (all-passed) checks:
        the trend stays, the bulk goes.
        """
        for option, value in (("--keep-days", keep_days), ("--keep-evidence-days", detail_days)):
            if value is not None and value < 0:
                raise ConfigError(f"{option} must be 0 or more, not {value:g}")
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM runs WHERE started_at < ?", (now - keep_days * DAY_S,))
            if detail_days is not None:
                old = "run_id IN (SELECT id FROM runs WHERE started_at < ?)"
                cutoff = (now - detail_days * DAY_S,)
                conn.execute(
                    f"UPDATE devices SET evidence = '{{}}', evidence_z = NULL WHERE {old}"
                    " AND (evidence_z IS NOT NULL OR evidence NOT IN ('', '{}'))",
                    cutoff,
                )
                conn.execute(
                    f"UPDATE devices SET checks = '[]' WHERE {old}"
                    " AND verdict = 'compliant' AND checks != '[]'",
                    cutoff,
                )
            return cur.rowcount

    # ------------------------------------------------------------------ reading

    def runs(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        site: str | None = None,
    ) -> list[StoredRun]:
        """Runs in [since, until], oldest first; with `site`, only that site's devices
        (and only runs that judged at least one device of it)."""
        where, args = ["1=1"], []
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        if until is not None:
            where.append("started_at <= ?")
            args.append(until)
        rows = self._conn.execute(
            "SELECT id, started_at, finished_at, site_filter, host_filter, unknown_clients"
            f" FROM runs WHERE {' AND '.join(where)} ORDER BY started_at, id",
            args,
        ).fetchall()
        devices = self._devices([int(r[0]) for r in rows], site)
        runs = [
            StoredRun(
                id=int(r[0]),
                started_at=float(r[1]),
                finished_at=float(r[2]),
                site_filter=r[3],
                host_filter=tuple(json.loads(r[4])),
                devices=tuple(devices.get(int(r[0]), ())),
                unknown_clients=tuple(ClientLogEntry(**e) for e in json.loads(r[5])),
            )
            for r in rows
        ]
        return [r for r in runs if r.devices] if site is not None else runs

    def get_run(self, run_id: int, *, site: str | None = None) -> StoredRun | None:
        row = self._conn.execute("SELECT started_at FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        found = self.runs(since=float(row[0]), until=float(row[0]), site=site)
        return next((r for r in found if r.id == run_id), None)

    def latest_run(self, *, site: str | None = None) -> StoredRun | None:
        row = self._conn.execute(
            "SELECT started_at FROM runs"
            + (" WHERE id IN (SELECT run_id FROM devices WHERE site = ?)" if site else "")
            + " ORDER BY started_at DESC, id DESC LIMIT 1",
            (site,) if site else (),
        ).fetchone()
        if row is None:
            return None
        found = self.runs(since=float(row[0]), until=float(row[0]), site=site)
        return found[-1] if found else None

    def _devices(self, run_ids: Iterable[int], site: str | None) -> dict[int, list[StoredDevice]]:
        ids = list(run_ids)
        out: dict[int, list[StoredDevice]] = {}
        # Chunked: SQLite limits the number of bound parameters per statement.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT run_id, host, site, platform, verdict, reason, offset_ms, stratum, reach,"
                f" peer, checks, evidence, evidence_z FROM devices WHERE run_id IN ({marks})"
            )
            args: list[Any] = list(chunk)
            if site is not None:
                query += " AND site = ?"
                args.append(site)
            for r in self._conn.execute(query + " ORDER BY run_id, site, host", args):
                out.setdefault(int(r[0]), []).append(
                    StoredDevice(
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
                        evidence_json=zlib.decompress(r[12]).decode() if r[12] else r[11] or "{}",
                    )
                )
        return out
