"""Real Linux lab hosts under a real systemd: NTPsec ntpd, systemd-timesyncd, or chrony
laid out as on RHEL (`chrony-rhel`: /etc/chrony.conf, no sources.d, chronyd.service).

Each host boots the Debian root that scripts/lab-image.sh keeps (default
/var/cache/orch-lab/root) with

    systemd-nspawn --boot --volatile=overlay --register=no --keep-unit
                   --drop-capability=CAP_SYS_TIME ...

- `--volatile=overlay`: the root is shared read-only; each host writes into its own
  tmpfs, gone when it stops. A push over SSH writes real files only that host sees.
- systemd is PID 1, so `systemctl restart ntpsec`, `timedatectl timesync-status` and
  `timedatectl show-timesync` are the real programs over the real D-Bus. A generator
  in the image starts the daemon /etc/orch-lab/daemon names.
- No CAP_SYS_TIME: nothing in the container can change this machine's clock (nspawn's
  seccomp filter also refuses the clock system calls). The image preloads the lab shim
  (orchestrator/lab/shim/orch_lab_shim.c): the daemons' clock adjustments "succeed"
  into a state file instead, so they report what they would have done, and their
  sockets move to the host's own loopback address (the hosts share the machine's
  network namespace, like the chrony hosts).
- sshd listens on the host's address only, root (or the image's user `orch`, with
  sudo) logs in with the lab's key; the host key and authorized_keys come from a
  per-host directory bound read-only at /etc/orch-lab.
- Nothing of the image reaches beyond loopback: no pools, no FallbackNTP, no resolver.

`SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1` lets systemd 252 boot on a machine whose cgroup
hierarchy is the hybrid one; `--register=no --keep-unit` need no systemd on the machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

CONTAINER_KINDS = ("ntpsec", "timesyncd", "chrony-rhel")
IMAGE_USER = "orch"  # the image's non-root user (password `orch-lab`)
IMAGE_USER_PASSWORD = "orch-lab"
_STAMP = ".orch-lab-image"


def image_root() -> Path:
    return Path(os.environ.get("ORCH_LAB_CACHE", "/var/cache/orch-lab")) / "root"


def missing_for_containers() -> list[str]:
    """What stops NTPsec/timesyncd lab hosts from booting here, one sentence each."""
    missing = []
    if shutil.which("systemd-nspawn") is None:
        missing.append(
            "`systemd-nspawn` is missing: install it with `apt-get install systemd-container` "
            "(scripts/install.sh does)."
        )
    root = image_root()
    if not (root / _STAMP).is_file():
        missing.append(
            f"the lab's Debian root {root} is not built: run scripts/install.sh as root "
            "(debootstrap: 1.5 to 4 minutes and 630 MB the first time)."
        )
    return missing


@dataclass(frozen=True)
class ContainerFiles:
    """One container host's own files on the machine (bound read-only into it)."""

    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "orch-lab"

    @property
    def sshd_config(self) -> Path:
        return self.root / "sshd-orch-lab.conf"

    @property
    def sudoers(self) -> Path:
        return self.root / "sudoers-orch-lab"


def write_container_files(
    files: ContainerFiles,
    *,
    kind: str,
    address: str,
    port: int,
    user: str,
    public_key: str,
    host_key: Path,
    sudo_password: bool,
) -> None:
    """The per-host directory: daemon kind, own address, host key, authorized key, sshd."""
    if kind not in CONTAINER_KINDS:
        raise ValueError(f"not a container host kind: {kind!r}")
    shutil.rmtree(files.etc, ignore_errors=True)
    files.etc.mkdir(parents=True)
    (files.etc / "daemon").write_text(kind + "\n")
    (files.etc / "bind-address").write_text(address + "\n")
    (files.etc / "authorized_keys").write_text(public_key)
    shutil.copyfile(host_key, files.etc / "host_key")
    (files.etc / "host_key").chmod(0o600)
    files.sshd_config.write_text(
        "\n".join(
            [
                f"ListenAddress {address}:{port}",
                "HostKey /etc/orch-lab/host_key",
                "PermitRootLogin " + ("prohibit-password" if user == "root" else "no"),
                f"AllowUsers {user}",
                "AuthorizedKeysFile /etc/orch-lab/authorized_keys",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "StrictModes no",
                "",
            ]
        )
    )
    rule = "ALL=(ALL:ALL) ALL" if sudo_password else "ALL=(ALL:ALL) NOPASSWD: ALL"
    files.sudoers.write_text(f"{IMAGE_USER} {rule}\n")
    files.sudoers.chmod(0o440)


def machine_name(address: str) -> str:
    """Unique among running hosts (one host per address)."""
    return "orch-lab-" + address.replace(".", "-")


def nspawn_command(files: ContainerFiles, *, name: str, address: str) -> list[str]:
    nspawn = shutil.which("systemd-nspawn") or "systemd-nspawn"
    return [
        nspawn,
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--volatile=overlay",
        f"--directory={image_root()}",
        f"--machine={machine_name(address)}",
        f"--hostname={name}",
        "--drop-capability=CAP_SYS_TIME",
        # SIGTERM to nspawn (the lab stopping, or dying: parent-death signal) kills the
        # container's init outright, and with it the whole PID namespace: a power-off
        # can hang on a unit's stop timeout, and nothing in a volatile root needs saving.
        "--kill-signal=SIGKILL",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
        f"--bind-ro={files.etc}:/etc/orch-lab",
        f"--bind-ro={files.sshd_config}:/etc/ssh/sshd_config.d/orch-lab.conf",
        f"--bind-ro={files.sudoers}:/etc/sudoers.d/orch-lab",
    ]


def nspawn_environment() -> dict[str, str]:
    return {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}


def describe(command: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in command)
