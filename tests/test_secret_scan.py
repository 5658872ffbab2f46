"""Every command at -vv, with a distinctive password, enable secret and NTP key: no output
and no file orch writes shows any of them, in any form a device prints them (clear,
IOS type 7 with any seed, hexadecimal)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.lab.runtime import Lab
from orchestrator.lab.spec import DeviceSpec, Faults, LabSpec
from orchestrator.type7 import SEEDS, encode_type7

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "Pw-Zx81q"
ENABLE = "En-Qv52w"
NTP_KEY = "Ky-Jm47r"


def _forms(value: str) -> set[str]:
    octets = value.encode()
    return {value, octets.hex(), octets.hex().upper()} | {
        encode_type7(value, seed) for seed in SEEDS
    }


FORMS = {form: name for name in (PASSWORD, ENABLE, NTP_KEY) for form in _forms(name)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fleet() -> Iterator[dict[str, DeviceSpec]]:
    port = _free_port()

    def device(name: str, platform: str, n: int, **kw: object) -> DeviceSpec:
        return DeviceSpec(
            name, platform, f"127.0.1.{230 + n}", port=port,
            password=PASSWORD, enable_secret=ENABLE, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    devices = (
        device("scan-ios", "cisco_ios", 1, startup_config=("ntp server 127.0.0.77",)),
        device("scan-cat", "cisco_catos", 2),
        device("scan-win", "windows", 3),
        device("scan-badpw", "cisco_ios", 4, faults=Faults(wrong_password=True)),
    )
    lab = Lab(LabSpec(devices, ntp_port=_free_port(), poll_interval_s=None))
    lab.start()
    try:
        yield {d.name: d for d in devices}
    finally:
        lab.stop()


def _inventory(directory: Path, devices: dict[str, DeviceSpec]) -> Path:
    directory.mkdir()
    port = next(iter(devices.values())).port
    (directory / "defaults.yaml").write_text(
        f"port: {port}\nusername: admin\npassword: ${{env:SCAN_PASSWORD}}\n"
        "data:\n  site: lab\n  sites:\n    lab:\n      networks: ['127.0.0.0/8']\n"
        "  ntp:\n    servers:\n      - address: 127.0.0.10\n    update_calendar: false\n"
    )
    (directory / "groups.yaml").write_text(
        "cisco:\n  data:\n    enable_secret: ${env:SCAN_ENABLE}\n    ntp:\n"
        "      authenticate: true\n"
        "      keys:\n        - id: 7\n          type: md5\n          secret: ${env:SCAN_KEY}\n"
        "      servers:\n        - address: 127.0.0.10\n          key: 7\n          prefer: true\n"
        "ios:\n  platform: cisco_ios\n  groups: [cisco]\n"
        "catos:\n  platform: cisco_catos\n  groups: [cisco]\n"
        "windows:\n  platform: windows\n"
    )
    group = {"cisco_ios": "ios", "cisco_catos": "catos", "windows": "windows"}
    (directory / "hosts.yaml").write_text(
        "".join(
            f"{d.name}:\n  hostname: {d.address}\n  groups: [{group[d.platform]}]\n"
            for d in devices.values()
        )
    )
    return directory


def _leaks(text: str) -> list[str]:
    return sorted({f"{FORMS[form]} as {form!r}" for form in FORMS if form in text})


def test_no_command_shows_a_secret_at_debug_level(
    fleet: dict[str, DeviceSpec], tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path / "inventory", fleet)
    data, out = tmp_path / "data", tmp_path / "out"
    out.mkdir()
    saved = out / "running.txt"  # what IOS shows, as a user saves it for `orch parse`
    saved.write_text(f"ntp authentication-key 7 md5 {encode_type7(NTP_KEY, 9)} 7\n")
    env = {
        **os.environ, "ORCH_DATA_DIR": str(data), "SCAN_PASSWORD": PASSWORD,
        "SCAN_ENABLE": ENABLE, "SCAN_KEY": NTP_KEY, "NO_COLOR": "1", "COLUMNS": "200",
    }  # fmt: skip
    inv = ["-vv", "--inventory", str(inventory)]
    commands = [
        ["-vv", "inventory", "check", str(inventory)],
        [*inv, "inventory", "show", "--format", "json"],
        [*inv, "push", "--accept-new-host-keys", "--dry-run"],
        [*inv, "push", "--accept-new-host-keys"],
        [*inv, "push", "--format", "json"],  # reads the key back in type-7 form
        [*inv, "verify", "--format", "json"],
        *(
            [*inv, "report", "--format", fmt, "--out", str(out / f"report.{fmt}")]
            for fmt in ("table", "json", "csv", "junit", "html", "prometheus")
        ),
        [*inv, "report", "--format", "json"],
        ["-vv", "parse", str(saved), "--platform", "cisco_ios", "--format", "json",
         "--command", "show running-config | include ^ntp"],
        ["-vv", "server", "status"],
        [*inv, "server", "install-unit", "--path", str(out / "orch-server.service")],
        [*inv, "schedule", "install", "--method", "systemd", "--unit-dir", str(out / "units"),
         "--report-dir", str(out / "reports"), "--env-file", str(tmp_path / "secrets.env")],
        [*inv, "schedule", "run", "--report-dir", str(out / "reports"),
         "--env-file", str(tmp_path / "secrets.env")],
    ]  # fmt: skip
    debug_lines = 0
    for argv in commands:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", *argv],
            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert done.returncode in (0, 1), (argv, done.stderr[-2000:])
        assert not _leaks(done.stdout + done.stderr), (argv, _leaks(done.stdout + done.stderr))
        debug_lines += done.stderr.count("DEBUG")
    assert debug_lines > 100  # -vv really logged (netmiko's channel traffic included)

    # every file orch wrote, except the two that exist to hold secrets for orch itself:
    # the job's environment file and the configuration backups taken before a push
    # (both readable by their owner only)
    kept = [tmp_path / "secrets.env", *(data / "backups").rglob("*.json")]
    assert all(p.stat().st_mode & 0o077 == 0 for p in kept)
    scanned = 0
    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path not in kept and path != saved:
            text = path.read_bytes().decode("latin-1")
            assert not _leaks(text), (path, _leaks(text))
            scanned += 1
    assert scanned >= 10
