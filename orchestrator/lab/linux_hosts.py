"""Real Linux lab hosts of three kinds, each a real daemon reached over real OpenSSH:

- `chrony`: `sshd` plus `chronyd -x` in private mount and PID namespaces (below);
- `ntpsec` (NTPsec ntpd) and `timesyncd` (systemd-timesyncd): a Debian root booted under
  a real systemd with systemd-nspawn, see linux_containers.py.

No host can change this machine's clock: none has CAP_SYS_TIME (the chrony hosts drop it
from their bounding set, the containers never get it).

Every chrony host is one process tree started as

    setpriv --pdeathsig KILL --bounding-set -sys_time \
        unshare --mount --pid --fork --kill-child --mount-proc  sh start.sh

- The mount namespace gets a private tmpfs on /run (so /run/chrony and /run/sshd are the
  host's own) and private bind mounts over /etc/chrony and /var/lib/chrony. A push over SSH
  therefore writes real files that only that host sees, and `chronyc` talks to that host's
  chronyd through its own /run/chrony socket. The machine's own files are never written.
- The PID namespace is what guarantees that nothing outlives the lab: when its first process
  dies, the kernel kills everything else in it. `--kill-child` makes that first process die
  with `unshare`, and `setpriv --pdeathsig KILL` makes `unshare` die with the process that
  started the pool, even when that process is killed without a chance to clean up.
- chronyd runs with `-x` (it never steps or slews the machine's clock), `port 0` (client
  only), `cmdport 0` (no UDP command port, so many chronyds coexist) and `bindacqaddress`
  set to the host's own address, so an NTP server sees each host as a distinct client.
- sshd listens on the host's own loopback address and lets the lab user in with the lab's
  ed25519 key only (no passwords). By default that user is `root`: the files a push writes
  are root's, and it needs nothing beyond openssh-server and chrony. With
  `lab_user="orch"` (any name) the host instead has a dedicated user with passwordless
  sudo, so drivers' `sudo -n` path runs against real sudo: the account exists only inside
  the host's namespace (private bind mounts over /etc/passwd, /etc/group and
  /etc/sudoers.d), never in the machine's files. The private key stays in the pool's
  state directory, mode 0600, and the servers listen on loopback only.

The pool keeps its host keys and the lab user's key between runs (so known_hosts entries
stay valid) and rebuilds every host's chrony configuration from scratch on each start.

PR_SET_PDEATHSIG fires when the *thread* that started a child exits: call `start()` from a
thread that lives as long as the lab (the main thread, not a short-lived worker).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.errors import LabError
from orchestrator.lab.linux_containers import (
    CONTAINER_KINDS,
    IMAGE_USER,
    IMAGE_USER_PASSWORD,
    ContainerFiles,
    missing_for_containers,
    nspawn_command,
    nspawn_environment,
    write_container_files,
)

LAB_USERNAME = "root"
KINDS = ("chrony", *CONTAINER_KINDS)
DEFAULT_SSH_PORT = 22
_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
# Directories each host gets its own copy of (bind mounts); /run is a private tmpfs.
_PRIVATE_DIRS = ("/etc/chrony", "/var/lib/chrony")
# (program, what to install when it is missing)
_PROGRAMS: tuple[tuple[str, str], ...] = (
    (
        "sshd",
        "OpenSSH's server `sshd` is missing: install it with `apt-get install openssh-server`.",
    ),
    ("chronyd", "`chronyd` is missing: install chrony with `apt-get install chrony`."),
    ("chronyc", "`chronyc` is missing: install chrony with `apt-get install chrony`."),
    ("unshare", "`unshare` is missing: install util-linux with `apt-get install util-linux`."),
    ("setpriv", "`setpriv` is missing: install util-linux with `apt-get install util-linux`."),
)


def _which(program: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + _SBIN_PATH
    return shutil.which(program, path=path)


def missing_requirements(kinds: Sequence[str] = ("chrony",)) -> list[str]:
    """What stops real Linux lab hosts of `kinds` from running here, one sentence each;
    [] when usable."""
    missing: list[str] = []
    if os.geteuid() != 0:
        missing.append(
            "Real Linux lab hosts need root (mount and PID namespaces): run `orch lab up` as root."
        )
    needs = {"unshare", "setpriv"}
    if "chrony" in kinds:
        needs |= {"sshd", "chronyd", "chronyc"}
    missing.extend(
        hint for program, hint in _PROGRAMS if program in needs and _which(program) is None
    )
    if "chrony" in kinds:
        for directory in _PRIVATE_DIRS:
            if not Path(directory).is_dir():
                missing.append(
                    f"{directory} does not exist (each lab host mounts its own copy over it): "
                    "reinstall chrony with `apt-get install --reinstall chrony`."
                )
    if set(kinds) & set(CONTAINER_KINDS):
        missing.extend(missing_for_containers())
    return missing


@dataclass(frozen=True)
class LinuxHostInfo:
    """How to reach one lab host over SSH."""

    name: str
    address: str
    port: int
    username: str
    key_file: Path
    kind: str = "chrony"  # chrony, ntpsec or timesyncd
    sudo_password: str | None = None  # set when the user's sudo asks for a password


@dataclass(frozen=True)
class _HostLayout:
    """Where one host's files live on the machine."""

    root: Path

    @property
    def etc_chrony(self) -> Path:
        return self.root / "etc-chrony"

    @property
    def var_lib_chrony(self) -> Path:
        return self.root / "var-lib-chrony"

    @property
    def sshd_config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    @property
    def start_script(self) -> Path:
        return self.root / "start.sh"

    @property
    def systemctl(self) -> Path:
        return self.root / "systemctl"

    @property
    def log(self) -> Path:
        return self.root / "host.log"


class LinuxHostPool:
    """N real Linux hosts on consecutive loopback addresses starting at `base_address`."""

    def __init__(
        self,
        state_dir: Path,
        count: int,
        base_address: str = "127.0.2.1",
        ntp_servers: Sequence[tuple[str, int]] = (),
        *,
        ssh_port: int | None = None,
        lab_user: str = LAB_USERNAME,
        names: Sequence[str] | None = None,
        start_timeout_s: float = 20.0,
        kinds: Sequence[str] | None = None,
        sudo_password: bool = False,
        skip_unavailable: bool = False,
        skip: Mapping[str, str] | None = None,
    ) -> None:
        """`ssh_port`: None = 22 where free on the host's address, else a free port;
        0 = always a free (ephemeral) port; N = exactly N. `lab_user`: who logs in
        (root, or a user with sudo: on chrony hosts any name, namespace-only, passwordless
        sudo; on container hosts the image's `orch`, whose sudo asks for its password
        `orch-lab` when `sudo_password`). `names`: the hosts' names (e.g. the
        inventory's), default linux-01, linux-02, ... `kinds`: each host's daemon
        (chrony, ntpsec, timesyncd), default all chrony. `skip_unavailable`: start the
        hosts whose kind can run here and list the others in `skipped` instead of failing.
        `skip`: kinds not to start at all, and why (reported in `skipped`)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", lab_user):
            raise LabError(f"lab user {lab_user!r} is not a valid user name")
        if count < 0:
            raise LabError(f"Linux lab host count must be 0 or more, not {count}")
        self._kinds = tuple(kinds) if kinds is not None else ("chrony",) * count
        unknown = sorted(set(self._kinds) - set(KINDS))
        if len(self._kinds) != count or unknown:
            raise LabError(
                f"Linux lab hosts need one kind each out of {', '.join(KINDS)}, "
                f"got {list(self._kinds)}"
            )
        containers = set(self._kinds) & set(CONTAINER_KINDS)
        if containers and lab_user not in (LAB_USERNAME, IMAGE_USER):
            raise LabError(
                f"{', '.join(sorted(containers))} lab hosts log in as root or {IMAGE_USER}, "
                f"not {lab_user!r}"
            )
        if sudo_password and (lab_user == LAB_USERNAME or "chrony" in self._kinds):
            raise LabError(f"a sudo password is for the {IMAGE_USER} user of container hosts")
        self._names = tuple(names) if names is not None else _default_names(count)
        if len(self._names) != count or len(set(self._names)) != count:
            raise LabError(f"Linux lab hosts need {count} distinct names, got {list(self._names)}")
        bad = [n for n in self._names if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", n)]
        if bad or "keys" in self._names:
            raise LabError(f"unusable Linux lab host name(s): {bad or ['keys']}")
        first = ipaddress.IPv4Address(base_address)
        if not first.is_loopback or not (first + max(count - 1, 0)).is_loopback:
            raise LabError(
                f"Linux lab hosts must live on 127.0.0.0/8; {base_address} + {count} does not"
            )
        self._state_dir = Path(state_dir)
        self._linux_dir = self._state_dir / "linux"
        self._count = count
        self._first = first
        self._ntp_servers = tuple(ntp_servers)
        self._ssh_port = ssh_port
        self._lab_user = lab_user
        self._start_timeout_s = start_timeout_s
        self._sudo_password = sudo_password
        self._skip_unavailable = skip_unavailable
        self._skip = dict(skip or {})
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._hosts: list[LinuxHostInfo] = []
        # kind -> why hosts of that kind were not started (with skip_unavailable)
        self.skipped: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> list[LinuxHostInfo]:
        """Start every host; returns once each one's sshd answers. Raises LabError."""
        if self._procs:
            raise LabError("this Linux host pool is already running")
        missing = {kind: missing_requirements((kind,)) for kind in dict.fromkeys(self._kinds)}
        if self._lab_user != LAB_USERNAME and "chrony" in missing and _which("sudo") is None:
            missing["chrony"].append(
                f"lab user {self._lab_user!r} needs sudo: install it with `apt-get install sudo`."
            )
        for kind, reason in self._skip.items():
            if kind in missing:
                missing[kind] = [reason]
        self.skipped = {kind: reasons for kind, reasons in missing.items() if reasons}
        if self.skipped and not self._skip_unavailable:
            reasons = list(dict.fromkeys(r for rs in self.skipped.values() for r in rs))
            raise LabError("cannot start real Linux lab hosts: " + " ".join(reasons))
        self._linux_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._linux_dir, 0o700)
        key_file = self._ensure_user_key()
        public_key = key_file.with_suffix(".pub").read_text()
        hosts = [
            LinuxHostInfo(
                name=self._names[i],
                address=str(self._first + i),
                port=self._pick_port(str(self._first + i)),
                username=self._lab_user,
                key_file=key_file,
                kind=self._kinds[i],
                sudo_password=IMAGE_USER_PASSWORD if self._sudo_password else None,
            )
            for i in range(self._count)
            if self._kinds[i] not in self.skipped
        ]
        try:
            for host in hosts:
                self._launch(host, public_key)
            # Booting a Debian userland takes longer than starting two daemons.
            boots = any(h.kind in CONTAINER_KINDS for h in hosts)
            deadline = time.monotonic() + self._start_timeout_s + (60.0 if boots else 0.0)
            for host in hosts:
                self._wait_ready(host, deadline)
        except BaseException:
            self.stop()
            raise
        self._hosts = hosts
        return list(hosts)

    def stop(self) -> None:
        """Kill every host by PID, wait for their process trees to go, drop their state."""
        tree = self.pids()
        children = _parent_map()
        for name, proc in self._procs.items():
            if self._kind_of(name) in CONTAINER_KINDS:
                # systemd-nspawn answers SIGTERM by killing the container's init (and so
                # its whole PID namespace), see linux_containers.nspawn_command.
                _signal(proc.pid, signal.SIGTERM)
                continue
            # Kill the namespace's first process (sshd) rather than unshare: the kernel
            # then kills everything else in the PID namespace, and unshare, still alive,
            # reaps it (killing unshare first would leave it a zombie for init to reap).
            for pid in children.get(proc.pid, []):
                _kill(pid)
        for name, proc in self._procs.items():
            try:
                proc.wait(timeout=15 if self._kind_of(name) in CONTAINER_KINDS else 5)
            except subprocess.TimeoutExpired:
                for pid in _descendants([proc.pid])[1:]:
                    _kill(pid)
                _kill(proc.pid)  # --kill-child then takes the namespace down
                proc.wait(timeout=5)
        _wait_gone(tree, timeout_s=10.0)
        self._procs.clear()
        self._hosts = []
        # The mounts lived only in the hosts' mount namespaces, which died with their
        # processes. What is left is the hosts' configuration on disk; keys stay.
        if self._linux_dir.is_dir():
            for child in self._linux_dir.iterdir():
                if child.is_dir() and child.name in self._names:
                    for name in ("etc-chrony", "var-lib-chrony", "etc-users", "orch-lab"):
                        shutil.rmtree(child / name, ignore_errors=True)

    def pids(self) -> list[int]:
        """PIDs (in our PID namespace) of every process of every host, roots first."""
        roots = [p.pid for p in self._procs.values() if p.poll() is None]
        return _descendants(roots)

    @property
    def hosts(self) -> list[LinuxHostInfo]:
        return list(self._hosts)

    def __enter__(self) -> LinuxHostPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ one host

    def _kind_of(self, name: str) -> str:
        return self._kinds[self._names.index(name)]

    def _launch(self, host: LinuxHostInfo, public_key: str) -> None:
        if host.kind in CONTAINER_KINDS:
            self._boot(host, public_key)
            return
        layout = _HostLayout(self._linux_dir / host.name)
        self._write_host_files(host, layout, public_key)
        setpriv, unshare = _which("setpriv"), _which("unshare")
        assert setpriv is not None and unshare is not None  # checked by missing_requirements
        with open(layout.log, "wb") as log:  # this run's log only: errors quote its tail
            self._procs[host.name] = subprocess.Popen(
                [
                    setpriv,
                    "--pdeathsig",
                    "KILL",
                    # Nothing in the host may ever set this machine's clock.
                    "--bounding-set",
                    "-sys_time",
                    unshare,
                    "--mount",
                    "--propagation",
                    "private",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "--mount-proc",
                    "/bin/sh",
                    str(layout.start_script),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the CLI does not half-kill hosts
                close_fds=True,
            )

    def _boot(self, host: LinuxHostInfo, public_key: str) -> None:
        """An NTPsec or timesyncd host: the lab image booted by systemd-nspawn."""
        layout = _HostLayout(self._linux_dir / host.name)
        layout.root.mkdir(parents=True, exist_ok=True)
        files = ContainerFiles(layout.root)
        write_container_files(
            files,
            kind=host.kind,
            address=host.address,
            port=host.port,
            user=host.username,
            public_key=public_key,
            host_key=self._ensure_host_key(host.name),
            sudo_password=self._sudo_password,
        )
        setpriv = _which("setpriv")
        assert setpriv is not None  # checked by missing_requirements
        with open(layout.log, "wb") as log:
            self._procs[host.name] = subprocess.Popen(
                # SIGTERM when the process that started the pool dies: nspawn kills the host.
                [
                    setpriv,
                    "--pdeathsig",
                    "TERM",
                    *nspawn_command(files, name=host.name, address=host.address),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=nspawn_environment(),
                start_new_session=True,
                close_fds=True,
            )

    def _write_host_files(self, host: LinuxHostInfo, layout: _HostLayout, public_key: str) -> None:
        for name in ("etc-chrony", "var-lib-chrony"):
            shutil.rmtree(layout.root / name, ignore_errors=True)
        layout.root.mkdir(parents=True, exist_ok=True)
        (layout.etc_chrony / "sources.d").mkdir(parents=True)
        (layout.etc_chrony / "chrony.conf").write_text(
            _chrony_conf(host.name, host.address, self._ntp_servers)
        )
        keys = layout.etc_chrony / "chrony.keys"
        keys.write_text("")
        keys.chmod(0o640)
        layout.var_lib_chrony.mkdir()
        chrony_user = _chrony_user()
        if chrony_user is not None:
            os.chown(layout.var_lib_chrony, chrony_user.pw_uid, chrony_user.pw_gid)
            os.chown(keys, 0, chrony_user.pw_gid)
        host_key = self._ensure_host_key(host.name)
        layout.authorized_keys.write_text(public_key)
        layout.sshd_config.write_text(
            _sshd_config(host.address, host.port, host_key, layout.authorized_keys, host.username)
        )
        user = None
        if host.username != LAB_USERNAME:
            user = _write_user_files(layout, host.username)
        chronyd = _which("chronyd") or "chronyd"
        layout.start_script.write_text(
            _start_script(layout, chronyd, _which("sshd") or "sshd", user)
        )
        layout.systemctl.write_text(_systemctl_script(chronyd, _chrony_run_user()))
        layout.systemctl.chmod(0o755)

    def _wait_ready(self, host: LinuxHostInfo, deadline: float) -> None:
        proc = self._procs[host.name]
        log = _HostLayout(self._linux_dir / host.name).log
        while True:
            if proc.poll() is not None:
                raise LabError(
                    f"Linux lab host {host.name} exited during start-up "
                    f"(status {proc.returncode}): {_tail(log)}"
                )
            if _ssh_banner(host.address, host.port):
                return
            if time.monotonic() > deadline:
                raise LabError(
                    f"Linux lab host {host.name} did not answer SSH on "
                    f"{host.address}:{host.port} within {self._start_timeout_s:g} s: {_tail(log)}"
                )
            time.sleep(0.05)

    def _pick_port(self, address: str) -> int:
        if self._ssh_port is not None and self._ssh_port != 0:
            return self._ssh_port
        if self._ssh_port is None and _port_free(address, DEFAULT_SSH_PORT):
            return DEFAULT_SSH_PORT
        return _free_port(address)

    # ------------------------------------------------------------------ keys

    def _ensure_user_key(self) -> Path:
        path = self._state_dir / "linux" / "keys" / "lab_user_ed25519"
        if not path.exists():
            _write_ed25519(path, comment="orch-lab-user")
        return path

    def _ensure_host_key(self, name: str) -> Path:
        path = self._state_dir / "linux" / "keys" / f"{name}_host_ed25519"
        if not path.exists():
            _write_ed25519(path, comment=f"orch-lab-{name}")
        return path


# ---------------------------------------------------------------------- rendering


def _chrony_conf(name: str, address: str, servers: Sequence[tuple[str, int]]) -> str:
    lines = [
        f"# orch lab host {name}: chronyd -x, it never steps or slews the machine's clock.",
        f"bindacqaddress {address}",
        "# Client only (no NTP server port) and no UDP command port: many lab chronyds share",
        "# one network namespace; chronyc reaches this one through its own /run/chrony socket.",
        "port 0",
        "cmdport 0",
        "keyfile /etc/chrony/chrony.keys",
        "driftfile /var/lib/chrony/chrony.drift",
        "sourcedir /etc/chrony/sources.d",
    ]
    lines += [
        f"server {addr} iburst" + (f" port {port}" if port != 123 else "") for addr, port in servers
    ]
    return "\n".join(lines) + "\n"


def _sshd_config(address: str, port: int, host_key: Path, authorized_keys: Path, user: str) -> str:
    return "\n".join(
        [
            f"ListenAddress {address}:{port}",
            f"HostKey {host_key}",
            "PidFile none",
            "PermitRootLogin " + ("prohibit-password" if user == LAB_USERNAME else "no"),
            f"AllowUsers {user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            # sshd reads the file as the user: a non-root user's copy lives in its home.
            "AuthorizedKeysFile "
            + (
                str(authorized_keys)
                if user == LAB_USERNAME
                else f"/run/{user}/.ssh/authorized_keys"
            ),
            # The state directory may sit under a world-writable /tmp; the key file is 0600.
            "StrictModes no",
            "UsePAM no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def _write_user_files(layout: _HostLayout, name: str) -> tuple[str, int]:
    """passwd/group/sudoers for a namespace-only lab user; returns (name, uid)."""
    users = layout.root / "etc-users"
    shutil.rmtree(users, ignore_errors=True)
    (users / "sudoers.d").mkdir(parents=True)
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    taken = {
        int(f.split(":")[2]) for f in passwd.splitlines() + group.splitlines() if f.count(":") >= 3
    }
    uid = next(n for n in range(60100, 65000) if n not in taken)
    # Password field `*`: no password at all (keys only), and no shadow entry to look up.
    entry = f"{name}:*:{uid}:{uid}:orch lab user:/run/{name}:/bin/sh\n"
    (users / "passwd").write_text(_without_user(passwd, name) + entry)
    (users / "group").write_text(_without_user(group, name) + f"{name}:x:{uid}:\n")
    sudoers = users / "sudoers.d" / "orch-lab"
    sudoers.write_text(f"{name} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    return name, uid


def _without_user(text: str, name: str) -> str:
    kept = [ln for ln in text.splitlines() if ln.split(":", 1)[0] != name]
    return "\n".join(kept) + "\n"


def _start_script(
    layout: _HostLayout, chronyd: str, sshd: str, lab_user: tuple[str, int] | None = None
) -> str:
    """The host's first process: private mounts, chronyd, then sshd as PID 1."""
    q = shlex.quote
    user = _chrony_user()
    owner = f"{user.pw_uid}:{user.pw_gid}" if user else "0:0"
    chronyd_user = _chrony_run_user()
    users: list[str] = []
    if lab_user is not None:
        name, uid = lab_user
        etc = layout.root / "etc-users"
        users = [
            f"mount --bind {q(str(etc / 'passwd'))} /etc/passwd",
            f"mount --bind {q(str(etc / 'group'))} /etc/group",
            f"mount --bind {q(str(etc / 'sudoers.d'))} /etc/sudoers.d",
            f"mkdir -m 0700 /run/{name} /run/{name}/.ssh",
            f"cp {q(str(layout.authorized_keys))} /run/{name}/.ssh/authorized_keys",
            f"chmod 0600 /run/{name}/.ssh/authorized_keys",
            f"chown -R {uid}:{uid} /run/{name}",
        ]
    return "\n".join(
        [
            "set -eu",
            "mount -t tmpfs -o mode=0755,size=8m orch-lab-run /run",
            "mkdir -p /run/sshd /run/chrony",
            f"chown {owner} /run/chrony",
            "chmod 0750 /run/chrony",
            f"mount --bind {q(str(layout.etc_chrony))} /etc/chrony",
            f"mount --bind {q(str(layout.var_lib_chrony))} /var/lib/chrony",
            *users,
            # no systemd in a lab host: a stand-in answers `systemctl is-active|restart chrony`
            f"if [ -e /usr/bin/systemctl ]; then mount --bind {q(str(layout.systemctl))}"
            " /usr/bin/systemctl; fi",
            f"{q(chronyd)} -x -n -u {q(chronyd_user)} -f /etc/chrony/chrony.conf &",
            "i=0",
            "while [ ! -S /run/chrony/chronyd.sock ]; do",
            "  i=$((i + 1))",
            '  if [ "$i" -gt 200 ]; then echo "chronyd did not start" >&2; exit 1; fi',
            "  sleep 0.05",
            "done",
            # sshd becomes PID 1: it reaps chronyd and the sessions; when it dies, so does
            # everything else in this PID namespace.
            f"exec {q(sshd)} -D -e -f {q(str(layout.sshd_config))}",
            "",
        ]
    )


def _systemctl_script(chronyd: str, user: str) -> str:
    """What a push's `systemctl restart chrony` does on a real host, for a lab host (its
    PID 1 is sshd): stop chronyd, start it again, still with -x (never the clock)."""
    q = shlex.quote
    return "\n".join(
        [
            "#!/bin/sh",
            "# orch lab: no systemd here; this stands in for the chrony unit only",
            'for a in "$@"; do unit="${a%.service}"; done  # the unit is the last word',
            'case "$1:$unit" in',
            "is-active:chrony|is-active:chronyd)",
            '  [ -f /run/chrony/chronyd.pid ] && kill -0 "$(cat /run/chrony/chronyd.pid)"',
            "  exit $? ;;",
            "restart:chrony|restart:chronyd)",
            '  [ -f /run/chrony/chronyd.pid ] && kill "$(cat /run/chrony/chronyd.pid)"',
            "  i=0",
            "  while [ -S /run/chrony/chronyd.sock ] && [ $i -lt 100 ]; do",
            "    i=$((i + 1)); sleep 0.05",
            "  done",
            f"  {q(chronyd)} -x -u {q(user)} -f /etc/chrony/chrony.conf || exit 1",
            "  i=0",
            "  while [ ! -S /run/chrony/chronyd.sock ]; do",
            '    i=$((i + 1)); [ $i -gt 200 ] && { echo "chronyd did not start" >&2; exit 1; }',
            "    sleep 0.05",
            "  done ;;",
            '*) echo "orch lab: systemctl $* is not available in a lab host" >&2; exit 1 ;;',
            "esac",
            "",
        ]
    )


# ---------------------------------------------------------------------- helpers


def _chrony_run_user() -> str:
    user = _chrony_user()
    return user.pw_name if user else "root"


def _default_names(count: int) -> tuple[str, ...]:
    return tuple(f"linux-{i + 1:02d}" for i in range(count))


def _chrony_user() -> pwd.struct_passwd | None:
    for name in ("_chrony", "chrony"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _write_ed25519(path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    path.with_suffix(".pub").write_bytes(public + f" {comment}\n".encode())


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _ssh_banner(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _parent_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(roots: Sequence[int]) -> list[int]:
    if not roots:
        return []
    children = _parent_map()
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return found


def _wait_gone(pids: Sequence[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive:
        alive = [pid for pid in alive if _alive(pid)]
        if not alive:
            return
        if time.monotonic() > deadline:
            raise LabError(f"Linux lab processes still running after stop: {alive}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill(pid: int) -> None:
    _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
