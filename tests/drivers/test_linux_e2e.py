"""The linux driver end to end: a real lab host (sshd + chronyd -x in its own namespaces),
reached through orch's real paramiko session, syncing to a real NTP server on loopback."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.base import Backup, Session
from orchestrator.drivers.linux import LinuxDriver
from orchestrator.drivers.session import open_session
from orchestrator.lab.linux_hosts import LinuxHostInfo, LinuxHostPool, missing_requirements
from orchestrator.models import DesiredNtp, Host, NtpServerSpec

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        bool(missing_requirements()), reason="; ".join(missing_requirements()) or "usable"
    ),
]

SOURCES = "/etc/chrony/sources.d/orch.sources"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ChronyServer:
    """A real NTP server: chronyd -x serving its own clock at stratum 8 on 127.0.0.1:port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_udp_port()
        self.socket = workdir / "chronyd.sock"
        workdir.mkdir(mode=0o700)  # chronyd refuses a command socket others could reach
        conf = workdir / "chrony.conf"
        conf.write_text(
            "\n".join(
                [
                    "local stratum 8",
                    "allow 127.0.0.0/8",
                    "bindaddress 127.0.0.1",
                    f"port {self.port}",
                    "cmdport 0",
                    f"bindcmdaddress {self.socket}",
                    f"pidfile {workdir / 'chronyd.pid'}",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [
                "setpriv",
                "--pdeathsig",
                "KILL",
                "chronyd",
                "-x",
                "-n",
                "-u",
                "root",
                "-f",
                str(conf),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            assert self.proc.poll() is None, "the NTP server (chronyd) exited"
            assert time.monotonic() < deadline, "the NTP server (chronyd) did not start"
            time.sleep(0.05)

    def clients(self) -> str:
        return subprocess.run(
            ["chronyc", "-h", str(self.socket), "-n", "clients"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChronyServer]:
    srv = ChronyServer(tmp_path / "ntp-server")
    try:
        yield srv
    finally:
        srv.stop()


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


def desired_for(server: ChronyServer) -> DesiredNtp:
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
    tmp_path: Path, server: ChronyServer, lab_host: LinuxHostInfo
) -> None:
    desired = desired_for(server)
    host = as_host(lab_host, desired)
    driver = LinuxDriver()
    with open_session(host, known_hosts=tmp_path / "kh", accept_new_host_keys=True) as session:
        before, changed = push(driver, session, desired)
        assert changed
        assert dict(before.files)[SOURCES] is None  # the drop-in did not exist

        sources = wait_for_selected(driver, session, "127.0.0.1")
        assert "^* 127.0.0.1" in sources
        # Our server saw the host from the host's own address (bindacqaddress).
        assert lab_host.address in server.clients()

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
    tmp_path: Path, server: ChronyServer, lab_host: LinuxHostInfo
) -> None:
    desired = desired_for(server)
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
