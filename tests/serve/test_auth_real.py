"""Symmetric-key authentication with real clients: chronyd -Q and ntpdig, MD5/SHA1/AES128."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from orchestrator.serve.clientlog_store import read_client_log

from .conftest import StartServer
from .realclients import (
    FAST,
    chrony_conf,
    chronyd_oneshot,
    needs_chrony,
    needs_ntpdig,
    ntpdig_in_netns,
    oneshot_offset_s,
    private_dir,
)

# (chrony keyfile line, ntpd/NTPsec keyfile line) for the same key material
KEYS = {
    "md5": ("11 MD5 HEX:{hex}", "11 MD5 {hex}", "5f3a9e0c1b2d4e6f708192a3b4c5d6e7f8091a2b"),
    "sha1": ("12 SHA1 HEX:{hex}", "12 SHA1 {hex}", "0123456789abcdef0123456789abcdef01234567"),
    "aes128": ("13 AES128 HEX:{hex}", "13 AES {hex}", "2b7e151628aed2a6abf7158809cf4f3c"),
}
KEY_IDS = {"md5": 11, "sha1": 12, "aes128": 13}


def _keyfile(path: Path, algorithm: str, *, chrony: bool, material: str | None = None) -> Path:
    chrony_line, ntpd_line, hex_key = KEYS[algorithm]
    path.write_text((chrony_line if chrony else ntpd_line).format(hex=material or hex_key) + "\n")
    path.chmod(0o600)
    return path


def _flushed_entry(server_log: Path, key_id: int | None) -> None:
    time.sleep(0.5)
    (entry,) = read_client_log(server_log)
    assert entry.key_id == key_id


@needs_chrony
@pytest.mark.parametrize("algorithm", ["md5", "sha1", "aes128"])
def test_chronyd_oneshot_authenticated(
    start_server: StartServer, tmp_path: Path, algorithm: str
) -> None:
    keys = _keyfile(tmp_path / "server.keys", algorithm, chrony=True)
    server = start_server(reference="local", keys_file=keys, require_auth=True)
    host, port = server.addresses[0]
    d = private_dir(tmp_path, "q")
    client_keys = _keyfile(d / "client.keys", algorithm, chrony=True)
    conf = chrony_conf(
        d,
        [f"server {host} port {port} iburst key {KEY_IDS[algorithm]} {FAST}"],
        [f"keyfile {client_keys}"],
    )
    rc, out = chronyd_oneshot(conf)
    assert rc == 0 and oneshot_offset_s(out) is not None, out
    _flushed_entry(server.config.client_log_path, KEY_IDS[algorithm])


@needs_chrony
def test_chronyd_with_wrong_key_gets_no_answer(start_server: StartServer, tmp_path: Path) -> None:
    keys = _keyfile(tmp_path / "server.keys", "sha1", chrony=True)
    server = start_server(reference="local", keys_file=keys)
    host, port = server.addresses[0]
    d = private_dir(tmp_path, "q")
    wrong = _keyfile(d / "client.keys", "sha1", chrony=True, material="ff" * 20)
    conf = chrony_conf(d, [f"server {host} port {port} iburst key 12 {FAST}"], [f"keyfile {wrong}"])
    rc, out = chronyd_oneshot(conf, timeout_s=3)
    assert rc != 0 and oneshot_offset_s(out) is None, out
    time.sleep(0.5)
    (entry,) = read_client_log(server.config.client_log_path)
    assert entry.requests >= 1 and entry.responses == 0 and entry.drops == entry.requests


@needs_ntpdig
@pytest.mark.parametrize("algorithm", ["md5", "sha1", "aes128"])
def test_ntpdig_authenticated(tmp_path: Path, algorithm: str) -> None:
    keys = _keyfile(tmp_path / "ntp.keys", algorithm, chrony=False)  # ntpd format on both ends
    args = ["-j", "-t", "3", "-a", str(KEY_IDS[algorithm]), "-k", str(keys)]
    res = ntpdig_in_netns(tmp_path, "local", args, keys=keys)
    assert res["rc"] == 0, res  # ntpdig drops replies whose MAC does not verify ("untrusted")
    assert json.loads(str(res["stdout"]))["stratum"] == 10
    (entry,) = read_client_log(tmp_path / "netns-clients.sqlite")
    assert entry.key_id == KEY_IDS[algorithm]


@needs_ntpdig
def test_ntpdig_wrong_key_gets_no_answer(tmp_path: Path) -> None:
    server_keys = _keyfile(tmp_path / "server.keys", "md5", chrony=False)
    client_keys = _keyfile(tmp_path / "client.keys", "md5", chrony=False, material="ab" * 20)
    res = ntpdig_in_netns(
        tmp_path, "local", ["-t", "2", "-a", "11", "-k", str(client_keys)], keys=server_keys
    )
    assert res["rc"] != 0, res
    (entry,) = read_client_log(tmp_path / "netns-clients.sqlite")
    assert entry.responses == 0 and entry.drops >= 1
