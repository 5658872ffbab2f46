"""Two site collectors, one PostgreSQL, one report (issue 16's "done when").

Real components: a PostgreSQL cluster started by the test session, our NTP server, the
lab's SSH devices (two per site) with their NTP clients, and three separate `orch`
processes: the collectors of sites north and south (each with its own data directory
and its own devices) store their runs at the same time, and a third process with yet
another data directory reports across both sites.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from verify.test_verify_lab_e2e import InProcessServer

from orchestrator.lab import DeviceSpec, Lab, LabSpec
from store.pg_server import PgCluster

pytestmark = [pytest.mark.slow, pytest.mark.root]
SSH_PORT = 2341
DEVICES = {  # name: (site, address, clock error s)
    "north-ok": ("north", "127.0.1.231", 0.0),
    "north-ok2": ("north", "127.0.1.232", 0.0),
    "south-ok": ("south", "127.0.1.233", 0.0),
    "south-skew": ("south", "127.0.1.234", -0.8),
}


def write_inventory(directory: Path, server_port: int) -> None:
    directory.mkdir()
    (directory / "defaults.yaml").write_text(
        f"port: {SSH_PORT}\nusername: admin\npassword: orch-lab\n"
        "data:\n  enable_secret: orch-lab\n  ntp:\n    servers:\n"
        f"      - address: 127.0.0.1\n        port: {server_port}\n"
        "    thresholds:\n      max_offset_ms: 100\n"
    )
    (directory / "groups.yaml").write_text("ios:\n  platform: cisco_ios\n")
    (directory / "hosts.yaml").write_text(
        "".join(
            f"{name}:\n  hostname: {addr}\n  groups: [ios]\n  data:\n    site: {site}\n"
            for name, (site, addr, _) in DEVICES.items()
        )
    )


@pytest.fixture()
def fleet(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    server = InProcessServer(tmp_path / "server-clients.sqlite")
    inventory = tmp_path / "inventory"
    write_inventory(inventory, server.port)
    boot = ("ntp server 127.0.0.1",)
    spec = LabSpec(
        devices=tuple(
            DeviceSpec(
                name, "cisco_ios", addr, port=SSH_PORT, startup_config=boot, clock_error_s=err
            )
            for name, (_, addr, err) in DEVICES.items()
        ),
        poll_interval_s=0.5,
        ntp_port=server.port,
    )
    try:
        with Lab(spec):
            yield inventory, server.log_path
    finally:
        server.stop()


def orch(args: list[str], data_dir: Path, pg: PgCluster) -> subprocess.Popen[str]:
    data_dir.mkdir(exist_ok=True)
    env = {**pg.env(), "ORCH_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("ORCH_DB_URL", None)
    return subprocess.Popen(
        [sys.executable, "-c", "from orchestrator.cli.app import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_site_collectors_store_into_one_postgresql_and_a_third_process_reports(
    fleet: tuple[Path, Path], pg_cluster: PgCluster, tmp_path: Path
) -> None:
    inventory, client_log = fleet
    url = pg_cluster.create_database("multisite")
    collectors = {
        site: orch(
            [
                "--inventory",
                str(inventory),
                "--db",
                url,
                "verify",
                "--site",
                site,
                "--client-log",
                str(client_log),
                "--accept-new-host-keys",
                "--format",
                "json",
                "--wait",
                "20",
                "--poll-interval",
                "1",
            ],
            tmp_path / f"collector-{site}",
            pg_cluster,
        )
        for site in ("north", "south")
    }  # both running at once
    results = {}
    for site, proc in collectors.items():
        out, err = proc.communicate(timeout=180)
        results[site] = (proc.returncode, json.loads(out), err)
    assert results["north"][0] == 0, results["north"][2]
    assert results["south"][0] == 1, results["south"][2]  # south-skew is 800 ms off
    assert pg_cluster.password not in str(results)
    for site, (_, doc, _) in results.items():
        assert {d["site"] for d in doc["devices"]} == {site} and doc["summary"]["id"] > 0

    reporter = orch(["--db", url, "report", "--format", "json"], tmp_path / "reporter", pg_cluster)
    out, err = reporter.communicate(timeout=120)
    assert reporter.returncode == 1, err
    doc = json.loads(out)
    verdicts = {d["host"]: (d["site"], d["verdict"]) for d in doc["devices"]}
    assert verdicts == {
        "north-ok": ("north", "compliant"),
        "north-ok2": ("north", "compliant"),
        "south-ok": ("south", "compliant"),
        "south-skew": ("south", "drifting"),
    }
    sites = {s["site"]: s for s in doc["sites"]}
    assert (sites["north"]["devices"], sites["north"]["compliant"]) == (2, 2)
    assert (sites["south"]["compliant"], sites["south"]["worst_verdict"]) == (1, "drifting")
    assert not os.path.exists(tmp_path / "reporter" / "history.sqlite")  # nothing local
    assert (
        b"orch-lab"
        not in pg_cluster.psql(
            "SELECT string_agg(reason || checks, '') FROM devices", "multisite"
        ).encode()
    )
