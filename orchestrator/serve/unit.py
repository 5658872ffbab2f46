"""The systemd unit that runs `orch server run` as a service (text only; never calls systemctl)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

DEFAULT_UNIT_PATH = Path("/etc/systemd/system/orch-server.service")


def unit_word(text: str) -> str:
    """One ExecStart argument: shell-quoted, with systemd's specifiers (%) and variables ($)
    escaped, so that a path is passed as written."""
    return shlex.quote(text).replace("%", "%%").replace("$", "$$")


def documentation() -> str:
    """Documentation= of the unit: orch's README where it is installed with the source,
    `orch server run --help` otherwise (as a comment), and the NTP RFC."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    return (f"{readme.as_uri()} " if readme.is_file() else "") + RFC5905


RFC5905 = "https://www.rfc-editor.org/rfc/rfc5905"


def render_unit(
    exec_start: Sequence[str],
    *,
    data_dir: str = "/var/lib/orch",
    credentials: Sequence[tuple[str, str]] = (),
    keys_credential: str | None = None,
) -> str:
    """A hardened service unit.

    KillMode=mixed: SIGTERM goes to the main process only, which stops its workers
    over their pipes and flushes the client log; stragglers get SIGKILL later.
    The unit does not conflict with chrony: in `--reference host` chronyd may be the
    one disciplining the clock (then give us another port, or let chronyd not serve).
    `credentials` are (name, path) pairs for LoadCredential=: a root-only keys file
    reaches the DynamicUser service as `%d/<name>` without being made readable to it;
    `keys_credential` names the one `server run --keys` reads.
    """
    command = " ".join(unit_word(a) for a in exec_start)
    if keys_credential is not None:
        command += f" --keys %d/{keys_credential}"  # %d: the service's credentials directory
    creds = "".join(f"LoadCredential={name}:{path}\n" for name, path in credentials)
    return f"""\
# Written by `orch server install-unit`; see `orch server run --help` for the options.
[Unit]
Description=orch site NTP server
Documentation={documentation()}
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
Type=exec
ExecStart={command}
{creds}Environment=ORCH_DATA_DIR={data_dir}
StateDirectory=orch
KillMode=mixed
TimeoutStopSec=10
Restart=on-failure
RestartSec=2
DynamicUser=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX

[Install]
WantedBy=multi-user.target
"""
