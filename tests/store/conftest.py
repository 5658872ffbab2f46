"""Storage tests run on both backends: a SQLite file, and a real PostgreSQL cluster that
this test session starts (initdb + pg_ctl in a temporary directory) and stops."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.pg_server import PgCluster, PgUnavailable

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    try:
        with PgCluster.start() as cluster:
            yield cluster
    except PgUnavailable as exc:
        pytest.skip(f"no PostgreSQL: {exc}")


@pytest.fixture()
def pg_url(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty database on the session's cluster; its password in PGPASSWORD."""
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    return pg_cluster.create_database(f"t{next(_names)}")


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.root)],
)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's history lives: a SQLite file path, or a postgresql:// URL."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return str(request.getfixturevalue("pg_url"))
