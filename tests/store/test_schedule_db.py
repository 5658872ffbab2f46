"""`orch schedule install --site S --db URL` on a site collector: the job stores into the
shared database, and no password is written into the schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.app import run

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"
URL = "postgresql://orch@db.example.net:5432/ntp"


def install(tmp_path: Path, *extra: str, global_db: str | None = None) -> tuple[int, str]:
    """`schedule install --site hq` with `extra` options (and a global --db)."""
    units = tmp_path / "units"
    before = ["--db", global_db] if global_db else []
    code = run(
        [
            "--inventory",
            str(EXAMPLE),
            *before,
            "schedule",
            "install",
            "--site",
            "hq",
            "--report-dir",
            str(tmp_path / "reports"),
            "--unit-dir",
            str(units),
            *extra,
        ]
    )
    service = units / "orch-verify.service"
    return code, service.read_text() if service.exists() else ""


def test_the_scheduled_job_stores_into_the_database_given(tmp_path: Path) -> None:
    code, service = install(tmp_path, "--db", URL)
    assert code == 0
    assert f"--db {URL}" in service and "--site hq" in service


def test_the_global_db_and_a_password_reference_are_carried_into_the_job(
    tmp_path: Path,
) -> None:
    ref = "postgresql://orch:${env:ORCH_PG_PASSWORD}@db.example.net/ntp"
    code, service = install(tmp_path, global_db=ref)
    assert code == 0 and "${env:ORCH_PG_PASSWORD}" in service


def test_a_relative_sqlite_path_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, service = install(tmp_path, "--db", "shared/history.sqlite")
    assert code == 0 and f"--db {tmp_path}/shared/history.sqlite" in service


def test_a_password_in_the_url_is_refused_and_not_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, service = install(tmp_path, "--db", URL.replace("orch@", "orch:Hunter2x@"))
    err = capsys.readouterr().err
    assert code == 2 and service == ""
    assert "a password in the URL would be written into the schedule" in err
    assert "Hunter2x" not in err and err.count("\n") == 1
    assert not (tmp_path / "reports").exists()
