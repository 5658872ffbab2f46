"""`orch server run | status | install-unit` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import ntplib
import pytest

from orchestrator.cli.app import run
from orchestrator.ntp.clientlog import ClientLog, Outcome
from orchestrator.ntp.server import SystemState
from orchestrator.serve.clientlog_store import ClientLogStore
from orchestrator.serve.runner import describe_state

REPO = Path(__file__).resolve().parents[2]


def _orch(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_run_serves_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "clients.sqlite"
    proc = _orch(
        "server", "run", "--listen", "127.0.0.1", "--port", "0", "--reference", "local",
        "--stratum", "9", "--workers", "2", "--client-log", str(log),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "orch server: listening on 127.0.0.1:PORT; ..."
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        r = ntplib.NTPClient().request("127.0.0.1", port=int(m.group(1)), version=4, timeout=3)
        assert r.stratum == 9 and r.leap == 0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err

    # what the server wrote is what `orch server status` shows; stopped, it exits 1 and
    # claims no synchronisation (it serves no time)
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "server", "status", "--format", "json",
         "--client-log", str(log)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    status = json.loads(done.stdout)
    server = status["server"]
    assert server["reference"] == "local" and server["stratum"] == 9
    assert server["state"] == "stopped" and server["running"] is False
    assert server["refid"] == "LOCL" and server["synchronised"] is False and server["leap"] == 3
    assert server["workers"] == 2 and server["ratelimit"] is True
    assert isinstance(server["root_dispersion_s"], float) and isinstance(server["pid"], int)
    assert status["counters"]["answered"] == 1
    (client,) = status["clients"]
    assert client["address"] == "127.0.0.1" and client["responses"] == 1
    table = subprocess.run(
        [sys.executable, "-m", "orchestrator", "server", "status", "--client-log", str(log)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    ).stdout  # fmt: skip
    assert table.startswith("Server stopped; it last ran on 127.0.0.1:"), table
    assert "synchronised" not in table, table


def _iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def test_status_json_is_typed_and_the_table_stays_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # meta as every version stores it (text), including the dotted-quad refid that
    # versions before the fix wrote for the local reference
    db = tmp_path / "c.sqlite"
    store = ClientLogStore(db)
    started = f"{time.time():.3f}"  # this process: started before, so it is the server
    store.set_meta({
        "pid": str(os.getpid()), "started": started, "listen": "127.0.0.1:123",
        "reference": "local", "workers": "2", "ratelimit": "off", "updated": "2001.250",
        "leap": "0", "stratum": "10", "refid": "76.79.67.76", "synchronised": "yes",
        "root_delay_s": "0.000000", "root_dispersion_s": "0.001500", "precision": "-20",
    })  # fmt: skip
    store.add([], {"received": 3, "answered": 2})
    store.close()
    assert run(["server", "status", "--client-log", str(db), "--format", "json"]) == 0
    server = json.loads(capsys.readouterr().out)["server"]
    assert server == {
        "pid": os.getpid(), "started": _iso(float(started)), "listen": "127.0.0.1:123",
        "reference": "local", "workers": 2, "ratelimit": False,
        "updated": "1970-01-01T00:33:21.250Z", "leap": 0, "stratum": 10,
        "refid": "LOCL", "synchronised": True, "root_delay_s": 0.0, "root_dispersion_s": 0.0015,
        "precision": -20, "state": "running", "running": True,
    }  # fmt: skip
    assert run(["server", "status", "--client-log", str(db)]) == 0
    out = capsys.readouterr().out
    assert "reference local: stratum 10, refid LOCL, leap 0, synchronised yes" in out
    assert f"started {_iso(float(started))}" in out  # ISO 8601, as in every output


def test_status_json_unreadable_value_is_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.sqlite"
    store = ClientLogStore(db)
    store.set_meta({"pid": str(os.getpid()), "stratum": "?", "synchronised": "maybe"})
    store.close()
    assert run(["server", "status", "--client-log", str(db), "--format", "json"]) == 0
    server = json.loads(capsys.readouterr().out)["server"]
    assert server["stratum"] is None and server["synchronised"] is None


@pytest.mark.parametrize(
    ("reference", "ref_id", "stratum", "shown"),
    [
        ("local", b"LOCL", 10, "LOCL"),
        ("local", b"LOCL", 1, "LOCL"),
        # an upstream IPv4 refid stays a dotted quad even when its bytes look like ASCII
        ("upstream", b"LOCL", 3, "76.79.67.76"),
        ("upstream", bytes([127, 0, 0, 1]), 2, "127.0.0.1"),
        ("host", b"GPS\x00", 1, "GPS"),
    ],
)
def test_refid_is_shown_like_ntpq_except_our_local_clock(
    reference: str, ref_id: bytes, stratum: int, shown: str
) -> None:
    state = SystemState(
        leap=0, stratum=stratum, ref_id=ref_id, ref_time_ns=0,
        root_delay_s=0.0, root_dispersion_s=0.0, precision=-20,
    )  # fmt: skip
    assert describe_state(state, reference)["refid"] == shown


def test_default_allow_is_loopback_plus_the_inventory_sites(tmp_path: Path) -> None:
    proc = _orch(
        "--inventory", str(REPO / "inventories" / "example"),
        "server", "run", "--listen", "127.0.0.1", "--port", "0", "--reference", "local",
        "--workers", "1", "--client-log", str(tmp_path / "c.sqlite"),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    allow = line.split("; allow ", 1)[1].split(";", 1)[0]
    assert set(allow.split(", ")) == {
        "127.0.0.0/8", "::1/128", "192.0.2.0/24", "2001:db8:10::/48", "198.51.100.0/24",
    }  # fmt: skip
    assert proc.returncode == 0


def test_run_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = _orch(
            "server", "run", "--listen", "127.0.0.1", "--port", str(port),
            "--client-log", str(tmp_path / "c.sqlite"),
        )  # fmt: skip
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and "--port" in lines[0], err


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "server.toml"
    cfg.write_text('allow = ["10.0.0.0/8"]\n[ratelimit]\nburst = 0\n')
    assert run(["server", "run", "--config", str(cfg), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:3: ratelimit.burst" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_keys_line_with_a_type_and_no_key_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "ntp.keys"
    keys.write_text("1 SHA1 HEX:" + "ab" * 20 + "\n2 MD5\n")
    keys.chmod(0o600)
    unit = tmp_path / "orch-server.service"
    assert run(["server", "install-unit", "--path", str(unit), "--keys", str(keys)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{keys}:2: key type 'MD5' has no key" in lines[0], err
    assert "ab" * 20 not in err and "Traceback" not in err and not unit.exists()


def test_status_table_like_chronyc_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.sqlite"
    log = ClientLog()
    now = time.time()
    for i in range(5):
        log.record("10.1.2.3", now - 64 * (4 - i), Outcome.RESPONDED, key_id=3)
    log.record("10.9.9.9", now, Outcome.KOD)
    store = ClientLogStore(db)
    store.add(log.take_deltas(), {"received": 6, "answered": 5, "kod-rate": 1})
    store.set_meta({"listen": "0.0.0.0:123", "reference": "local", "stratum": "10"})
    store.set_meta({"pid": str(os.getpid()), "started": f"{now:.3f}"})
    store.close()
    assert run(["server", "status", "--client-log", str(db)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "10.1.2.3" in line).split()
    assert row == ["10.1.2.3", "5", "5", "0", "0", "6", *row[6:7], "3", "0"]  # Int 6 = 64 s
    assert "kod-rate" in out and "0.0.0.0:123" in out


def test_status_without_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["server", "status", "--client-log", str(tmp_path / "none.sqlite")]) == 1
    assert "No client log" in capsys.readouterr().out


def test_install_unit_writes_a_unit_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = tmp_path / "orch-server.service"
    cfg = tmp_path / "server.toml"
    assert run(["server", "install-unit", "--path", str(unit), "--config", str(cfg)]) == 0
    text = unit.read_text()
    assert "[Service]" in text and "KillMode=mixed" in text
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert "server run" in exec_start and f"--config {cfg}" in exec_start
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in text
    assert run(["server", "install-unit", "--path", str(unit)]) == 2
    assert "--force" in capsys.readouterr().err
    keys = tmp_path / "ntp.keys"
    assert run(["server", "install-unit", "--path", str(unit), "--keys", str(keys), "--force"]) == 0
    text = unit.read_text()
    assert f"LoadCredential=ntp.keys:{keys}" in text
    assert "--keys %d/ntp.keys" in text


def test_status_notices_a_server_that_died(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists
    db = tmp_path / "c.sqlite"
    store = ClientLogStore(db)
    store.set_meta({
        "pid": str(gone.pid), "listen": "127.0.0.1:123", "reference": "host",
        "started": f"{time.time():.3f}", "synchronised": "yes", "leap": "0",
    })  # fmt: skip
    store.close()
    assert run(["server", "status", "--client-log", str(db), "--format", "json"]) == 1
    server = json.loads(capsys.readouterr().out)["server"]
    assert server["state"].startswith("not running") and server["running"] is False
    assert server["synchronised"] is False and server["leap"] == 3
    assert run(["server", "status", "--client-log", str(db)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Server not running (it did not stop cleanly)"), out
    assert "synchronised" not in out


def test_status_tells_a_reused_pid_from_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server was SIGKILLed long ago; its pid now belongs to a process that started
    # after it (here: this test process, which started long after "started").
    db = tmp_path / "c.sqlite"
    store = ClientLogStore(db)
    store.set_meta({
        "pid": str(os.getpid()), "started": "1000.0", "listen": "127.0.0.1:123",
        "reference": "local", "synchronised": "yes", "leap": "0",
    })  # fmt: skip
    store.close()
    assert run(["server", "status", "--client-log", str(db), "--format", "json"]) == 1
    server = json.loads(capsys.readouterr().out)["server"]
    assert server["state"] == f"not running (stale: pid {os.getpid()} is now another process)"
    assert server["synchronised"] is False


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_installed_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # `verify` only parses the file (offline); it changes nothing in systemd
    unit = tmp_path / "orch-server.service"
    assert run(["server", "install-unit", "--path", str(unit), "--keys", "/etc/ntp.keys"]) == 0
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Unknown" not in out.stderr and "Failed" not in out.stderr, out.stderr


def _exec_start(unit: Path) -> list[str]:
    line = next(ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def _values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == option]


def test_unit_for_the_example_inventory_carries_inventory_and_listen_settings(
    tmp_path: Path,
) -> None:
    unit = tmp_path / "orch-server.service"
    example = REPO / "inventories" / "example"
    code = run([
        "--inventory", str(example), "server", "install-unit", "--path", str(unit),
        "--listen", "192.0.2.10", "--listen", "2001:db8:10::10", "--deny", "192.0.2.99/32",
        "--keys", "/etc/orch/ntp.keys",
    ])  # fmt: skip
    assert code == 0
    argv = _exec_start(unit)
    assert _values(argv, "--inventory") == [str(example)]
    assert argv[argv.index("server") + 1] == "run"
    assert _values(argv, "--listen") == ["192.0.2.10", "2001:db8:10::10"]
    assert _values(argv, "--port") == ["123"] and _values(argv, "--reference") == ["host"]
    # the default allow list, resolved now: loopback + the example's site networks
    assert set(_values(argv, "--allow")) == {
        "127.0.0.0/8", "::1/128", "192.0.2.0/24", "2001:db8:10::/48", "198.51.100.0/24",
    }  # fmt: skip
    assert _values(argv, "--deny") == ["192.0.2.99/32"]
    assert _values(argv, "--keys") == ["%d/ntp.keys"]
    text = unit.read_text()
    assert "chronyd" not in text
    (docs,) = [ln for ln in text.splitlines() if ln.startswith("Documentation=")]
    assert "README.md" in docs and "rfc5905" in docs
    if shutil.which("systemd-analyze"):
        out = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(unit)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_unit_carries_upstreams_and_refuses_what_run_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = tmp_path / "orch-server.service"
    base = ["server", "install-unit", "--path", str(unit)]
    assert run([*base, "--reference", "upstream"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orch: error: --reference upstream needs at least one --upstream")
    assert len(err.strip().splitlines()) == 1 and not unit.exists()
    for bad in (["--upstream", "ntp.example"], ["--allow", "10.0.0.0/33"], ["--stratum", "16"]):
        assert run([*base, "--reference", "upstream", "--upstream", "192.0.2.1", *bad]) == 2
        assert not unit.exists(), bad
    # the same refusal from `server run`, before anything binds
    assert run(["server", "run", "--reference", "upstream", "--port", "0"]) == 2
    assert "--upstream" in capsys.readouterr().err
    args = [*base, "--reference", "upstream", "-u", "192.0.2.1", "-u", "[2001:db8::1]:1123"]
    assert run(args) == 0
    argv = _exec_start(unit)
    assert _values(argv, "--upstream") == ["192.0.2.1", "[2001:db8::1]:1123"]
    assert _values(argv, "--reference") == ["upstream"]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_server(tmp_path: Path, name: str, workers: int) -> tuple[subprocess.Popen[str], int]:
    proc = _orch(
        "server", "run", "--listen", "127.0.0.1", "--port", "0", "--reference", "local",
        "--workers", str(workers), "--client-log", str(tmp_path / f"{name}.sqlite"),
    )  # fmt: skip
    assert proc.stderr is not None
    found = re.search(r"127\.0\.0\.1:(\d+)", proc.stderr.readline())
    assert found
    port = int(found.group(1))
    ntplib.NTPClient().request("127.0.0.1", port=port, version=4, timeout=3)
    return proc, port


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_workers_die_with_a_killed_server(tmp_path: Path) -> None:
    proc, port = _start_server(tmp_path, "killed", 3)
    workers = _children(proc.pid)
    try:
        assert len(workers) == 3, workers
        proc.kill()  # SIGKILL the main process, as the OOM killer would
        proc.wait()
        assert _gone_within(workers, 2.0) == []  # they used to keep answering, orphaned
        with pytest.raises(ntplib.NTPException):
            ntplib.NTPClient().request("127.0.0.1", port=port, version=4, timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:  # a worker of ours that survived must not outlive the test
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_a_worker_honours_sigterm(tmp_path: Path) -> None:
    proc, _ = _start_server(tmp_path, "term", 2)
    workers = _children(proc.pid)
    try:
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGTERM)  # it used to ignore SIGTERM
        assert _gone_within(workers[:1], 2.0) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_run_refuses_a_port_another_orch_server_holds(tmp_path: Path) -> None:
    first = _orch(
        "server", "run", "--listen", "127.0.0.1", "--port", "0", "--reference", "local",
        "--workers", "1", "--client-log", str(tmp_path / "first.sqlite"),
    )  # fmt: skip
    try:
        assert first.stderr is not None
        banner = first.stderr.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", banner)
        assert found, banner
        second = _orch(
            "server", "run", "--listen", "127.0.0.1", "--port", found.group(1),
            "--client-log", str(tmp_path / "second.sqlite"),
        )  # fmt: skip
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "already in use" in lines[0], err
        assert "Traceback" not in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)


@pytest.mark.root
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)
def test_port_123_without_privileges_is_one_line(tmp_path: Path) -> None:
    # run as nobody: binding port 123 is refused by the kernel (nothing is sent anywhere)
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "orchestrator", "server", "run",
         "--listen", "127.0.0.1", "--port", "123", "--client-log", "/nonexistent/c.sqlite"],
        capture_output=True, text=True, timeout=120, cwd="/tmp", check=False,
        env={**os.environ, "HOME": "/tmp", "MPLCONFIGDIR": "/tmp"},
    )  # fmt: skip
    assert out.returncode == 2
    (line,) = [ln for ln in out.stderr.splitlines() if ln.startswith("orch:")]
    assert line.startswith("orch: error: cannot listen on 127.0.0.1:123: permission denied")
    assert "CAP_NET_BIND_SERVICE" in line and "--port" in line


def test_status_after_a_restart_is_running_not_the_old_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The previous run's "stopped" stays in the log; this run started after it.
    db = tmp_path / "c.sqlite"
    store = ClientLogStore(db)
    now = time.time()
    store.set_meta({"stopped": f"{now - 10:.3f}", "started": f"{now:.3f}", "pid": str(os.getpid())})
    store.set_meta({"listen": "127.0.0.1:123", "reference": "local"})
    store.close()
    assert run(["server", "status", "--client-log", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["server"]["state"] == "running"
    store = ClientLogStore(db)
    store.set_meta({"stopped": f"{now + 10:.3f}"})  # and this run stopped cleanly
    store.close()
    assert run(["server", "status", "--client-log", str(db)]) == 1
    assert capsys.readouterr().out.startswith("Server stopped; it last ran on 127.0.0.1:123")


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "70000"), ("--port", "-1"), ("--workers", "0")]
)
def test_run_out_of_range_numbers_are_usage_errors(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["server", "run", "--listen", "127.0.0.1", option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("option", ["--config", "--keys"])
def test_run_binary_config_or_keys_file_is_one_line(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "blob.toml"
    binary.write_bytes(b"\x87\x00\xffKEYMATERIAL\xfe")
    binary.chmod(0o600)
    code = run(["server", "run", "--listen", "127.0.0.1", "--port", "0", option, str(binary)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"orch: error: {binary}: not a text file"), err
    assert len(err.strip().splitlines()) == 1
    assert "KEYMATERIAL" not in err and "Traceback" not in err


def test_status_without_clients_says_so_instead_of_empty_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.sqlite"
    store = ClientLogStore(db)
    store.set_meta({"listen": "127.0.0.1:123", "reference": "local", "pid": str(os.getpid())})
    store.close()
    assert run(["server", "status", "--client-log", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"No clients in {db} yet." in out
    assert "Hostname" not in out and "counter" not in out


def test_install_unit_checks_the_files_it_points_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = tmp_path / "orch-server.service"
    keys = tmp_path / "ntp.keys"
    keys.write_text("10 FOO TopSecretValue\n")
    keys.chmod(0o600)
    assert run(["server", "install-unit", "--path", str(unit), "--keys", str(keys)]) == 2
    err = capsys.readouterr().err
    assert f"{keys}:1: unknown key type 'FOO'" in err and "TopSecretValue" not in err
    assert not unit.exists()
    cfg = tmp_path / "server.toml"
    cfg.write_text("nope = 1\n")
    assert run(["server", "install-unit", "--path", str(unit), "--config", str(cfg)]) == 2
    assert f"{cfg}:1: unknown setting 'nope'" in capsys.readouterr().err and not unit.exists()
    assert run(["server", "install-unit", "--path", str(unit), "--port", "99999"]) == 2
    assert not unit.exists()
    later = tmp_path / "later.keys"  # deployed after the unit: a note, not an error
    assert run(["server", "install-unit", "--path", str(unit), "--keys", str(later)]) == 0
    assert f"note: --keys {later} does not exist yet" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_a_deeply_nested_config_is_one_line(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / f"server{suffix}"
    cfg.write_text(("listen: " if suffix == ".yaml" else "listen = ") + "[" * 20_000 + "]" * 20_000)
    assert run(["server", "run", "--config", str(cfg), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err == f"orch: error: {cfg}: nested too deeply to be a server config\n"


def test_status_refuses_a_global_format_it_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(tmp_path / "c.sqlite")
    assert run(["-f", "prometheus", "server", "status", "--client-log", log]) == 2
    assert capsys.readouterr().err == (
        "orch: error: --format 'prometheus': choose one of table, json\n"
    )
