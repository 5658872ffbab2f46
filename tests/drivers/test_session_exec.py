"""Exec sessions (Linux/Windows transport) against a real OpenSSH sshd on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import paramiko
import pytest

from orchestrator.drivers.session import ExecSession, open_session
from orchestrator.errors import CommandRejected, ConnectionFailure
from orchestrator.models import DesiredNtp, Host

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or not Path(SSHD).exists(), reason="needs root and openssh-server"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keypair(path: Path) -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key.export_public_key().decode().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    d = tmp_path_factory.mktemp("sshd")
    _keypair(d / "host_ed25519")
    (d / "authorized_keys").write_text(_keypair(d / "client_ed25519") + "\n")
    port = _free_port()
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\n"
        f"PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port, d
    finally:
        proc.terminate()
        proc.wait(10)


def _host(port: int, key: Path) -> Host:
    return Host(
        "srv1",
        "127.0.0.1",
        "linux",
        port,
        "root",
        None,
        "lab",
        (),
        DesiredNtp(()),
        ssh_key_file=str(key),
    )


@pytest.fixture()
def session(sshd: tuple[int, Path], tmp_path: Path) -> Iterator[ExecSession]:
    port, d = sshd
    s = open_session(
        _host(port, d / "client_ed25519"), known_hosts=tmp_path / "kh", accept_new_host_keys=True
    )
    assert isinstance(s, ExecSession)
    with s:
        yield s


def test_exit_status_stdout_stderr(session: ExecSession) -> None:
    r = session.run("echo hi; echo err >&2; exit 3")
    assert (r.output, r.stderr, r.exit_status, r.ok) == ("hi\n", "err\n", 3, False)


def test_stdin_and_large_output(session: ExecSession) -> None:
    assert session.run("cat", stdin="line1\nline2\n").output == "line1\nline2\n"
    big = session.run("head -c 300000 /dev/zero | tr '\\0' x; echo; echo done >&2")
    assert len(big.output) == 300001 and big.stderr == "done\n" and big.ok


def test_command_timeout_is_a_connection_failure(session: ExecSession) -> None:
    with pytest.raises(ConnectionFailure, match=r"srv1 \(127\.0\.0\.1:\d+\).*timed out"):
        session.run("sleep 5", timeout_s=0.3)


def test_configure_stops_at_first_failing_command(session: ExecSession) -> None:
    with pytest.raises(CommandRejected) as info:
        session.configure(["true", "echo nope >&2; false", "echo never"])
    assert info.value.command == "echo nope >&2; false"
    assert "nope" in str(info.value)


def test_host_key_policy(sshd: tuple[int, Path], tmp_path: Path) -> None:
    port, d = sshd
    host = _host(port, d / "client_ed25519")
    kh = tmp_path / "known_hosts"
    with pytest.raises(ConnectionFailure, match=r"unknown host key .*--accept-new-host-keys"):
        open_session(host, known_hosts=kh)
    open_session(host, known_hosts=kh, accept_new_host_keys=True).close()
    assert kh.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
    open_session(host, known_hosts=kh).close()  # now known
    # A hashed entry (`ssh-keygen -H`, as ~/.ssh/known_hosts often holds) is honoured.
    server_key = asyncssh.read_private_key(str(d / "host_ed25519")).export_public_key()
    hashed = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{port}")
    kh.write_text(f"{hashed} {server_key.decode().strip()}\n")
    open_session(host, known_hosts=kh).close()
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    kh.write_text(f"[127.0.0.1]:{port} {other}")
    with pytest.raises(ConnectionFailure, match="host key CHANGED"):
        open_session(host, known_hosts=kh, accept_new_host_keys=True)


def test_wrong_key_is_an_authentication_failure(sshd: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = sshd
    stranger = tmp_path / "stranger"
    _keypair(stranger)
    with pytest.raises(ConnectionFailure) as info:
        open_session(_host(port, stranger), known_hosts=tmp_path / "kh", accept_new_host_keys=True)
    assert str(info.value) == (
        f"srv1 (127.0.0.1:{port}): connect: authentication failed (check username/password or key)"
    )


def test_refused_port(tmp_path: Path) -> None:
    port = _free_port()
    with pytest.raises(ConnectionFailure, match=rf"srv1 \(127\.0\.0\.1:{port}\): connect: "):
        open_session(_host(port, tmp_path / "none"), known_hosts=tmp_path / "kh", timeout_s=2)


def test_refused_port_reads_like_the_cli_devices_do(tmp_path: Path) -> None:
    # paramiko says "[Errno None] Unable to connect to port N on 127.0.0.1"; users see the
    # same words as for an IOS device whose port is closed.
    port = _free_port()
    with pytest.raises(ConnectionFailure) as failure:
        open_session(_host(port, tmp_path / "none"), known_hosts=tmp_path / "kh", timeout_s=2)
    assert str(failure.value).endswith(
        f"srv1 (127.0.0.1:{port}): connect: connection refused or unreachable"
    ), str(failure.value)
    assert "Errno" not in str(failure.value)
