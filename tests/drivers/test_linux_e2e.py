"""The linux driver against a real chrony lab host (sshd + chronyd -x in its own
namespaces) and a real NTP server on an ephemeral loopback port: chrony's own details
(selection, keys, byte-exact restore, a namespace-only sudo user). Push, verify and rollback
of every daemon kind are in test_linux_kinds_e2e.py."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.drivers.base import Backup, Session
from orchestrator.drivers.linux import LinuxDriver
from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, push_host
from orchestrator.lab.linux_hosts import LinuxHostInfo, LinuxHostPool, missing_requirements
from orchestrator.models import (
    DesiredNtp,
    Host,
    NtpKey,
    NtpServerSpec,
    PushOutcome,
    Secret,
)
from orchestrator.serve.clientlog_store import read_client_log
from orchestrator.serve.config import ServerConfig
from orchestrator.serve.runner import NtpServerRunner

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        bool(missing_requirements()), reason="; ".join(missing_requirements()) or "usable"
    ),
]

SOURCES = "/etc/chrony/sources.d/orch.sources"


@dataclass
class OrchServer:
    """orch's own NTP server (orchestrator.serve), in process, on an ephemeral port."""

    port: int
    client_log: Path


KEY_HEX = "5c" * 20  # SHA1 key, 20 octets
KEY = NtpKey(10, "sha1", Secret(f"HEX:{KEY_HEX}", source="test"))


@pytest.fixture
def orch_server(tmp_path: Path) -> Iterator[OrchServer]:
    keys = tmp_path / "server.keys"
    keys.write_text(f"10 SHA1 HEX:{KEY_HEX}\n")
    keys.chmod(0o600)
    config = ServerConfig(
        keys_file=keys,
        listen=("127.0.0.1",),
        port=0,
        reference="local",
        stratum=8,
        ratelimit=None,  # the lab host polls 4 times a second (minpoll -2)
        client_log=tmp_path / "clients.sqlite",
        workers=1,
        flush_interval_s=0.2,
    )
    with NtpServerRunner(config) as runner:
        ((_, port),) = runner.addresses
        yield OrchServer(port, config.client_log_path)


@pytest.fixture
def lab_host(tmp_path: Path) -> Iterator[LinuxHostInfo]:
    pool = LinuxHostPool(tmp_path / "lab", 1, base_address="127.0.2.131", ssh_port=0)
    try:
        (info,) = pool.start()
        yield info
    finally:
        pool.stop()


def as_host(info: LinuxHostInfo, desired: DesiredNtp) -> Host:
    return Host(
        name=info.name,
        hostname=info.address,
        platform="linux",
        port=info.port,
        username=info.username,
        password=None,
        site="lab",
        groups=(),
        desired=desired,
        ssh_key_file=str(info.key_file),
    )


def desired_for(server: OrchServer) -> DesiredNtp:
    # minpoll -2 (every 0.25 s) makes chrony select the source within seconds.
    spec = NtpServerSpec("127.0.0.1", port=server.port, prefer=True, minpoll=-2, maxpoll=0)
    return DesiredNtp(servers=(spec,))


def wait_for_selected(driver: LinuxDriver, session: Session, address: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        out = driver.collect(session)["chronyc -n sources"]
        if any(line.startswith(f"^* {address} ") for line in out.splitlines()):
            return out
        assert time.monotonic() < deadline, f"no ^* {address} within 30 s:\n{out}"
        time.sleep(0.25)


def push(driver: LinuxDriver, session: Session, desired: DesiredNtp) -> tuple[Backup, bool]:
    backup = driver.backup(session)
    plan = driver.render(desired, driver.current(backup), backup)
    if not plan.is_noop:
        driver.apply(session, plan)
    return backup, not plan.is_noop


def test_push_syncs_host_to_our_server_then_noop_then_restore(
    tmp_path: Path, orch_server: OrchServer, lab_host: LinuxHostInfo
) -> None:
    server = orch_server
    desired = desired_for(server)
    host = as_host(lab_host, desired)
    driver = LinuxDriver()
    with open_session(host, known_hosts=tmp_path / "kh", accept_new_host_keys=True) as session:
        before, changed = push(driver, session, desired)
        assert changed
        assert dict(before.files)[SOURCES] is None  # the drop-in did not exist

        wait_for_selected(driver, session, "127.0.0.1")
        state = driver.parse(host.name, driver.collect(session))
        (peer,) = [a for a in state.associations if a.selected]
        assert (peer.address, peer.state, peer.stratum) == ("127.0.0.1", "sys.peer", 8)
        assert state.status is not None and state.status.synchronized
        assert state.status.stratum == 9
        assert ("127.0.0.1", server.port, True) in [
            (s.address, s.port, s.prefer) for s in state.configured.servers
        ]
        # Our server saw the host from the host's own address (bindacqaddress).
        deadline = time.monotonic() + 10
        while lab_host.address not in {e.address for e in read_client_log(server.client_log)}:
            assert time.monotonic() < deadline, "the server's client log never showed the host"
            time.sleep(0.2)

        after_first, changed_again = push(driver, session, desired)
        assert not changed_again  # the same state twice changes nothing
        assert dict(after_first.files)[SOURCES] == (
            "# Managed by orch: the NTP servers of this host. Edits here are overwritten.\n"
            f"server 127.0.0.1 port {server.port} iburst prefer minpoll -2 maxpoll 0\n"
        )

        driver.restore(session, before)
        assert driver.backup(session).files == before.files  # drop-in gone again
        assert "127.0.0.1" not in driver.collect(session)["chronyc -n sources"]


def test_restore_is_byte_identical_for_an_existing_file(
    tmp_path: Path, orch_server: OrchServer, lab_host: LinuxHostInfo
) -> None:
    desired = desired_for(orch_server)
    host = as_host(lab_host, desired)
    driver = LinuxDriver()
    # No trailing newline, CRLF, a tab, a non-UTF-8 byte: none of it may change.
    original = b"# hand-written\r\nserver 127.0.0.77\tiburst\n# caf\xe9"
    with open_session(host, known_hosts=tmp_path / "kh", accept_new_host_keys=True) as session:
        wrote = session.run(f"base64 -d > {SOURCES}", stdin=base64.b64encode(original).decode())
        assert wrote.ok, wrote.stderr
        session.run(f"chmod 0604 {SOURCES}")
        before, changed = push(driver, session, desired)
        assert changed
        wait_for_selected(driver, session, "127.0.0.1")

        driver.restore(session, before)
        restored = session.run(f"od -An -v -tx1 {SOURCES} | tr -d ' \\n'").output.strip()
        assert bytes.fromhex(restored) == original
        assert session.run(f"stat -c %a {SOURCES}").output.strip() == "604"
        assert "127.0.0.77" in driver.collect(session)["chronyc -n sources"]


def test_authenticated_sync_with_a_pushed_key(
    tmp_path: Path, orch_server: OrchServer, lab_host: LinuxHostInfo
) -> None:
    """The key lands in the host's chrony keyfile; chrony only selects a server whose
    replies carry a valid MAC under it, so `^*` proves the key works end to end."""
    spec = NtpServerSpec("127.0.0.1", port=orch_server.port, key_id=10, minpoll=-2, maxpoll=0)
    desired = DesiredNtp(servers=(spec,), keys=(KEY,), authenticate=True)
    host = as_host(lab_host, desired)
    driver = LinuxDriver()
    with open_session(host, known_hosts=tmp_path / "kh", accept_new_host_keys=True) as session:
        before, changed = push(driver, session, desired)
        assert changed
        wait_for_selected(driver, session, "127.0.0.1")
        authdata = session.run("chronyc -n authdata").output
        assert any(ln.startswith("127.0.0.1 ") and " SK " in ln for ln in authdata.splitlines())
        driver.restore(session, before)
        assert driver.backup(session).files == before.files


@pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo is not installed")
def test_a_non_root_user_pushes_through_real_sudo(tmp_path: Path, orch_server: OrchServer) -> None:
    pool = LinuxHostPool(
        tmp_path / "lab", 1, base_address="127.0.2.136", ssh_port=0, lab_user="orch"
    )
    (info,) = pool.start()
    try:
        assert info.username == "orch"
        desired = desired_for(orch_server)
        host = as_host(info, desired)
        options = PushOptions(
            known_hosts=tmp_path / "kh", accept_new_host_keys=True, backups_dir=tmp_path / "b"
        )
        result = push_host(host, run_id="run1", options=options)
        assert result.outcome is PushOutcome.CHANGED, result.reason
        driver = LinuxDriver()
        with open_session(host, known_hosts=tmp_path / "kh") as session:
            assert session.run("id -u").output.strip() != "0"
            # Without sudo this user cannot even ask chronyd; through the driver it can.
            assert not session.run("chronyc -n sources").ok
            wait_for_selected(driver, session, "127.0.0.1")
            assert session.run(f"stat -c %U {SOURCES}").output.strip() == "root"
    finally:
        pool.stop()
