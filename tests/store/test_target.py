"""Which database --db / ORCH_DB_URL name, where PostgreSQL passwords come from, and that
a password is never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import paths
from orchestrator.cli.app import run
from orchestrator.errors import ConfigError, SecretError
from orchestrator.store import HistoryStore, StoreError, resolve_target
from store.pg_server import PgCluster

SECRET = "s3cr3t-Pa55"


def test_default_is_the_data_directory_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ORCH_DB_URL", raising=False)
    target = resolve_target(None)
    assert target.backend == "sqlite" and target.sqlite_path == paths.history_db()
    assert target.sqlite_path == tmp_path / "history.sqlite"
    monkeypatch.setenv("ORCH_DB_URL", "postgresql://orch@127.0.0.1:5432/ntp")
    assert resolve_target(None).backend == "postgresql"
    assert resolve_target(str(tmp_path / "x.sqlite")).sqlite_path == tmp_path / "x.sqlite"
    assert resolve_target(f"sqlite:///{tmp_path}/y.db").sqlite_path == tmp_path / "y.db"


def test_postgresql_urls_and_their_password_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = resolve_target("postgres://orch@db.example:6432/ntp")
    assert plain.url.drivername == "postgresql+psycopg" and plain.url.password is None
    assert plain.display == "postgresql://orch@db.example:6432/ntp"
    monkeypatch.setenv("ORCH_PG_PASSWORD", SECRET)
    ref = resolve_target("postgresql://orch:${env:ORCH_PG_PASSWORD}@db.example/ntp")
    assert ref.url.password == SECRET
    literal = resolve_target(f"postgresql://orch:{SECRET}@db.example/ntp")
    for shown in (ref.display, str(ref), repr(ref), literal.display, repr(literal)):
        assert SECRET not in shown and "db.example" in shown
    monkeypatch.delenv("ORCH_PG_PASSWORD")
    with pytest.raises(SecretError, match=r"\$\{env:ORCH_PG_PASSWORD\} is not set"):
        resolve_target("postgresql://orch:${env:ORCH_PG_PASSWORD}@db.example/ntp")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://orch@db/ntp", "unsupported database URL scheme 'mysql'"),
        ("postgresql://orch@db.example", "no database name"),
        ("postgresql://orch:pw@db:notaport/ntp", "not a database URL"),
    ],
)
def test_bad_urls_are_one_line_input_errors(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_target(url)
    assert run(["--db", url, "db", "status"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "pw" not in err.replace("pwd", "")


@pytest.mark.root
def test_password_from_pgpass_and_from_an_env_reference(
    pg_cluster: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_cluster.create_database("pgpass_test")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_cluster.port}:*:orch:{pg_cluster.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))  # libpq's ~/.pgpass, here
    with HistoryStore(url) as store:
        assert store.runs() == []
    pgpass.unlink()
    monkeypatch.setenv("ORCH_TEST_PG", pg_cluster.password)
    with HistoryStore(url.replace("orch@", "orch:${env:ORCH_TEST_PG}@")) as store:
        assert store.schema_state().current


@pytest.mark.root
def test_a_wrong_password_is_one_line_without_the_password(
    pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    url = pg_cluster.url("postgres")
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        HistoryStore(url)
    monkeypatch.setenv("ORCH_DB_URL", url.replace("orch@", f"orch:{SECRET}@"))
    assert run(["report", "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "password authentication failed" in err and err.count("\n") == 1
    assert SECRET not in err and f"127.0.0.1:{pg_cluster.port}/postgres" in err


@pytest.mark.root
def test_db_status_and_upgrade_on_postgresql(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--db", pg_url, "db", "status", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 0 and doc["backend"] == "postgresql"
    assert run(["db", "upgrade", "--db", pg_url]) == 0
    assert "created the history tables" in capsys.readouterr().err
    assert run(["db", "upgrade", "--db", pg_url]) == 0
    assert "already up to date" in capsys.readouterr().err
