"""Real Linux lab hosts: real sshd + chronyd -x in private mount and PID namespaces, and
NTPsec / systemd-timesyncd / RHEL-style chrony under a real systemd (systemd-nspawn)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from orchestrator.errors import LabError
from orchestrator.lab import linux_hosts
from orchestrator.lab.linux_containers import ContainerFiles, write_container_files
from orchestrator.lab.linux_hosts import LinuxHostInfo, LinuxHostPool, missing_requirements

needs_root = pytest.mark.skipif(
    bool(missing_requirements()), reason="; ".join(missing_requirements()) or "usable"
)


def ssh(host: LinuxHostInfo, command: str) -> tuple[int, str]:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # fresh lab host keys
    client.connect(
        host.address,
        port=host.port,
        username=host.username,
        key_filename=str(host.key_file),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    try:
        _, stdout, stderr = client.exec_command(command, timeout=20)
        out = stdout.read().decode() + stderr.read().decode()
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()


def tree_digest(root: Path) -> str:
    """Names, sizes and contents of every file under `root` (the machine's own copy)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def our_mounts(state_dir: Path) -> list[str]:
    return [
        ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(state_dir) in ln
    ]


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[LinuxHostPool]:
    p = LinuxHostPool(
        tmp_path / "state",
        2,
        base_address="127.0.2.101",
        ntp_servers=[("127.0.0.5", 4123)],
        ssh_port=0,
        names=["lab-linux1", "lab-linux2"],
    )
    try:
        yield p
    finally:
        p.stop()


# ---------------------------------------------------------------------- no root needed


def test_missing_requirements_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no program found
    monkeypatch.setattr(linux_hosts, "_SBIN_PATH", str(tmp_path))
    monkeypatch.setattr(linux_hosts.os, "geteuid", lambda: 1000)
    missing = missing_requirements()
    assert any("root" in m for m in missing)
    assert any("apt-get install openssh-server" in m for m in missing)
    assert any("apt-get install chrony" in m and "chronyd" in m for m in missing)
    assert any("apt-get install util-linux" in m and "unshare" in m for m in missing)


def test_container_kinds_name_the_install_script_when_the_root_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORCH_LAB_CACHE", str(tmp_path))  # nothing built there
    missing = missing_requirements(("timesyncd",))
    assert any("scripts/install.sh" in m and str(tmp_path / "root") in m for m in missing)
    assert not any("chrony" in m for m in missing_requirements(("ntpsec",)))
    if os.geteuid() == 0:
        pool = LinuxHostPool(tmp_path / "s", 1, kinds=["ntpsec"], ssh_port=0)
        with pytest.raises(LabError, match=r"scripts/install\.sh"):
            pool.start()
        # What can run starts, what cannot is said: here nothing of the one host.
        pool = LinuxHostPool(tmp_path / "s", 1, kinds=["ntpsec"], ssh_port=0, skip_unavailable=True)
        assert pool.start() == []
        assert "scripts/install.sh" in " ".join(pool.skipped["ntpsec"])
        pool.stop()


def test_kinds_users_and_sudo_passwords_are_checked(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="one kind each"):
        LinuxHostPool(tmp_path, 2, kinds=["chrony"])
    with pytest.raises(LabError, match="one kind each"):
        LinuxHostPool(tmp_path, 1, kinds=["openntpd"])
    with pytest.raises(LabError, match="log in as root or orch"):
        LinuxHostPool(tmp_path, 1, kinds=["timesyncd"], lab_user="ops")
    with pytest.raises(LabError, match="sudo password"):
        LinuxHostPool(tmp_path, 1, kinds=["chrony"], lab_user="ops", sudo_password=True)


def test_container_files_say_kind_address_user_and_sudo(tmp_path: Path) -> None:
    host_key = tmp_path / "hk"
    host_key.write_text("KEY")
    files = ContainerFiles(tmp_path / "h")
    for sudo_password in (False, True):
        write_container_files(
            files,
            kind="ntpsec",
            address="127.0.2.9",
            port=2209,
            user="orch",
            public_key="ssh-ed25519 AAAA lab\n",
            host_key=host_key,
            sudo_password=sudo_password,
        )
        rule = files.sudoers.read_text()
        assert ("NOPASSWD" in rule) is not sudo_password
    assert (files.etc / "daemon").read_text() == "ntpsec\n"
    assert (files.etc / "bind-address").read_text() == "127.0.2.9\n"
    assert (files.etc / "host_key").stat().st_mode & 0o777 == 0o600
    sshd = files.sshd_config.read_text().splitlines()
    assert {"ListenAddress 127.0.2.9:2209", "AllowUsers orch", "PermitRootLogin no"} <= set(sshd)
    with pytest.raises(ValueError, match="not a container host kind"):
        write_container_files(
            files,
            kind="chrony",
            address="127.0.2.9",
            port=22,
            user="root",
            public_key="",
            host_key=host_key,
            sudo_password=False,
        )


def test_rejects_addresses_outside_loopback(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"127\.0\.0\.0/8"):
        LinuxHostPool(tmp_path, 2, base_address="10.0.0.1")
    with pytest.raises(LabError, match=r"127\.0\.0\.0/8"):
        LinuxHostPool(tmp_path, 3, base_address="127.255.255.254")  # third host leaves 127/8


def test_chrony_conf_binds_source_address_and_includes_sources_dir() -> None:
    text = linux_hosts._chrony_conf("linux-01", "127.0.2.7", [("127.0.0.1", 123), ("::1", 4123)])
    lines = text.splitlines()
    assert "bindacqaddress 127.0.2.7" in lines
    assert {"port 0", "cmdport 0", "sourcedir /etc/chrony/sources.d"} <= set(lines)
    assert "server 127.0.0.1 iburst" in lines
    assert "server ::1 iburst port 4123" in lines


# ---------------------------------------------------------------------- real hosts (root)


@pytest.mark.root
@needs_root
def test_start_stop_leaves_no_process_mount_or_config(pool: LinuxHostPool, tmp_path: Path) -> None:
    machine_chrony = tree_digest(Path("/etc/chrony"))
    hosts = pool.start()
    assert [(h.name, h.address) for h in hosts] == [
        ("lab-linux1", "127.0.2.101"),
        ("lab-linux2", "127.0.2.102"),
    ]
    pids = pool.pids()
    # Per host: setpriv->unshare, sshd (namespace PID 1), chronyd.
    names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids}
    assert {"unshare", "sshd", "chronyd"} <= names
    # The hosts' mounts live in their own namespaces only, never in ours.
    assert our_mounts(tmp_path) == []

    pool.stop()
    assert pool.pids() == []
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert our_mounts(tmp_path) == []
    assert not (tmp_path / "state" / "linux" / "lab-linux1" / "etc-chrony").exists()
    assert tree_digest(Path("/etc/chrony")) == machine_chrony


@pytest.mark.root
@needs_root
def test_each_host_sees_only_its_own_chrony_files(pool: LinuxHostPool) -> None:
    machine_sources = sorted(p.name for p in Path("/etc/chrony/sources.d").iterdir())
    first, second = pool.start()

    status, out = ssh(
        first,
        "echo 'server 127.0.0.9 iburst' > /etc/chrony/sources.d/orch.sources"
        " && chronyc reload sources && chronyc -n sources",
    )
    assert status == 0, out
    assert "127.0.0.9" in out  # chronyc answers for this host's own chronyd

    status, out = ssh(second, "ls /etc/chrony/sources.d; chronyc -n sources")
    assert status == 0, out
    assert "orch.sources" not in out and "127.0.0.9" not in out
    assert "127.0.0.5" in out  # the pool's initial server, from chrony.conf

    status, out = ssh(second, "grep bindacqaddress /etc/chrony/chrony.conf")
    assert out.strip() == f"bindacqaddress {second.address}"
    assert sorted(p.name for p in Path("/etc/chrony/sources.d").iterdir()) == machine_sources


@pytest.mark.root
@needs_root
def test_keys_survive_a_restart(tmp_path: Path) -> None:
    pool = LinuxHostPool(tmp_path / "state", 1, base_address="127.0.2.111", ssh_port=0)
    (host,) = pool.start()
    before = host.key_file.read_bytes()
    pool.stop()
    (host,) = pool.start()
    try:
        assert host.key_file.read_bytes() == before
        assert ssh(host, "true")[0] == 0
    finally:
        pool.stop()


@pytest.mark.root
@pytest.mark.parametrize("kind", ["chrony", "timesyncd"])
def test_hosts_die_with_a_killed_lab_process(tmp_path: Path, kind: str) -> None:
    """SIGKILL on the process that started the pool (no cleanup code runs) takes it all:
    the namespaces' parent-death signal, or systemd-nspawn's kill on SIGTERM."""
    missing = missing_requirements((kind,))
    if missing:
        pytest.skip("; ".join(missing))
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from orchestrator.lab.linux_hosts import LinuxHostPool
        pool = LinuxHostPool(Path({str(tmp_path / "state")!r}), 2,
                             base_address="127.0.2.121", ssh_port=0, kinds=[{kind!r}] * 2)
        pool.start()
        print(" ".join(map(str, pool.pids())), flush=True)
        time.sleep(60)
        """
    )
    lab = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert lab.stdout is not None
        pids = [int(p) for p in lab.stdout.readline().split()]
        assert len(pids) >= 6, pids
        os.kill(lab.pid, signal.SIGKILL)
        lab.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(linux_hosts._alive(p) for p in pids):
            time.sleep(0.05)
        assert [p for p in pids if linux_hosts._alive(p)] == []
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait()


@pytest.mark.root
@needs_root
@pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo is not installed")
def test_a_lab_user_exists_only_inside_its_host(tmp_path: Path) -> None:
    machine_passwd = Path("/etc/passwd").read_bytes()
    pool = LinuxHostPool(
        tmp_path / "state", 1, base_address="127.0.2.116", ssh_port=0, lab_user="orchlab"
    )
    (host,) = pool.start()
    try:
        status, out = ssh(host, "id -un; sudo -n id -u")
        assert (status, out.split()) == (0, ["orchlab", "0"])
        assert b"orchlab" not in Path("/etc/passwd").read_bytes()
    finally:
        pool.stop()
    assert Path("/etc/passwd").read_bytes() == machine_passwd


def test_rejects_a_bad_user_name(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="not a valid user name"):
        LinuxHostPool(tmp_path, 1, lab_user="bad user;rm")


@pytest.mark.root
@needs_root
def test_a_host_that_cannot_start_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.2.126", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pool = LinuxHostPool(tmp_path / "state", 1, base_address="127.0.2.126", ssh_port=port)
        with pytest.raises(
            LabError, match=r"linux-01 exited during start-up.*Address already in use"
        ):
            pool.start()
    assert pool.pids() == []
    assert our_mounts(tmp_path) == []


def test_rejects_bad_or_missing_names(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="2 distinct names"):
        LinuxHostPool(tmp_path, 2, names=["a"])
    with pytest.raises(LabError, match="unusable"):
        LinuxHostPool(tmp_path, 1, names=["../etc"])
