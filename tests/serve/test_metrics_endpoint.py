"""`orch server run --metrics-listen`: /metrics scraped from a running server (two worker
processes) while a bounded loopback load runs; counters rise and promtool accepts it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.errors import ConfigError
from orchestrator.serve.metrics import parse_listen

REPO = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
REQUESTS_PER_ROUND = 300  # bounded load: 3 rounds, loopback only


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ntp_request(seq: int) -> bytes:
    # LI 0, version 4, mode 3 (client); a distinct transmit timestamp per request
    return bytes([0x23]) + bytes(39) + seq.to_bytes(8, "big")


def load(port: int, count: int, start: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for i in range(count):
            s.sendto(ntp_request(start + i), ("127.0.0.1", port))
            if i % 50 == 0:
                time.sleep(0.01)


def scrape(url: str) -> tuple[str, dict[str, dict[tuple[tuple[str, str], ...], float]]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers.get("Content-Type", "").startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return text, samples


def test_metrics_rise_under_load_and_pass_promtool(tmp_path: Path) -> None:
    metrics_port = free_tcp_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "orchestrator", "server", "run", "--listen", "127.0.0.1",
            "--port", "0", "--reference", "local", "--stratum", "7", "--workers", "2",
            "--client-log", str(tmp_path / "clients.sqlite"),
            "--metrics-listen", f"127.0.0.1:{metrics_port}",
        ],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "ORCH_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        ntp = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert ntp and f"metrics on http://127.0.0.1:{metrics_port}/metrics" in line, line
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        rounds = []
        for r in range(3):
            load(int(ntp.group(1)), REQUESTS_PER_ROUND, r * REQUESTS_PER_ROUND)
            time.sleep(2.6)  # the workers flush their counters every 2 s
            rounds.append(scrape(url))
        text, last = rounds[-1]
        if PROMTOOL is not None:
            checked = subprocess.run(
                [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    received = [s["orch_server_requests_received_total"][()] for _, s in rounds]
    assert received[0] > 0 and received[0] < received[1] < received[2], received
    assert received[2] <= 3 * REQUESTS_PER_ROUND
    # One client sending hundreds of requests a second is rate limited: KoD RATE or drops.
    first = rounds[0][1]
    kod = last["orch_server_kod_sent_total"][(("code", "RATE"),)]
    dropped = last["orch_server_requests_dropped_total"][(("reason", "rate-limited"),)]
    answered = last["orch_server_requests_answered_total"][()]
    assert kod + dropped > 0 and answered > 0
    assert answered + kod + sum(last["orch_server_requests_dropped_total"].values()) == received[2]
    assert first["orch_server_clients_seen"][()] == 1
    assert last["orch_server_synchronised"][()] == 1 and last["orch_server_stratum"][()] == 7
    assert 0 <= last["orch_server_root_dispersion_seconds"][()] < 1
    assert last["orch_server_reference_update_age_seconds"][()] >= 0
    assert (("code", "DENY"),) in last["orch_server_kod_sent_total"]
    assert () in last["orch_server_requests_authenticated_total"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (scripts/install.sh)")
def test_promtool_on_the_collector_of_an_unsynchronised_server() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from orchestrator.ntp.server import UNSYNCHRONISED
    from orchestrator.serve.metrics import ServerCollector

    registry = CollectorRegistry(auto_describe=False)
    counters = {"received": 5, "answered": 3, "dropped-denied": 2, "kod-rate": 0}
    registry.register(ServerCollector(lambda: (counters, 4), lambda: UNSYNCHRONISED))
    text = generate_latest(registry).decode()
    assert 'orch_server_requests_dropped_total{reason="denied"} 2.0' in text
    assert "orch_server_synchronised 0.0" in text and "orch_server_stratum 16.0" in text
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("bad", ["9123", "127.0.0.1", "127.0.0.1:http", ":9123", "h:99999"])
def test_bad_metrics_listen_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="expected ADDRESS:PORT"):
        parse_listen(bad)
    assert parse_listen("[::1]:9123") == ("::1", 9123)
