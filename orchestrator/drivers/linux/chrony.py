"""chrony: orch's sources in a file of their own, read without a restart.

Debian/Ubuntu: chrony.conf reads `sourcedir /etc/chrony/sources.d`; orch writes
sources.d/orch.sources and runs `chronyc reload sources`, so the host never loses its
sources. Without a persistent `sourcedir` (RHEL's /etc/chrony.conf has only
/run/chrony-dhcp), a `confdir` or `include` directory gets orch.conf, else chrony.conf a
marked block, and chronyd restarts. Keys go in a marked block of the `keyfile`, then
`chronyc rekey`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import ClassVar

from orchestrator.drivers.linux.files import ManagedFile
from orchestrator.drivers.linux.keys import key_line
from orchestrator.drivers.linux.probe import Probe
from orchestrator.drivers.linux.strategy import DaemonStrategy, Target, directives, server_line
from orchestrator.models import DesiredNtp, NtpServerSpec

SOURCES = "chronyc -n sources"
TRACKING = "chronyc -n tracking"


def chrony_server_options(spec: NtpServerSpec) -> tuple[str, ...]:
    """chrony's per-server options beyond the common ones (none yet: e.g. `nts`)."""
    del spec
    return ()


class Chrony(DaemonStrategy):
    name = "chrony"
    hints = ("chrony", "chronyd")
    process = "chronyd"
    tool = "chronyc"
    conf_files = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
    units = ("chrony", "chronyd")
    state_commands: ClassVar[tuple[str, ...]] = (SOURCES, TRACKING)
    state_needs_root = True  # chronyc talks to chronyd over a root-only socket

    def main_conf(self, probe: Probe) -> str:
        args = probe.chronyd_args
        if "-f" in args[:-1]:
            return args[args.index("-f") + 1]  # the file the running chronyd really reads
        return super().main_conf(probe)

    def target(self, probe: Probe, conf_path: str, conf_text: str, privilege: str) -> Target:
        restart = self.restart(probe)
        # /run/chrony-dhcp and the like hold runtime sources; orch's file must survive a reboot.
        sourcedirs = [d.split()[0] for d in directives(conf_text, "sourcedir")]
        persistent = [d for d in sourcedirs if not d.startswith("/run")]
        confdirs = [d.split()[0] for d in directives(conf_text, "confdir")]
        includes = [
            posixpath.dirname(p.split()[0])
            for p in directives(conf_text, "include")
            if p.split()[0].endswith("*.conf")
        ]
        if persistent:
            servers = ManagedFile(
                posixpath.join(persistent[0], "orch.sources"), True, ("chronyc reload sources",)
            )
        elif confdirs or includes:
            servers = ManagedFile(
                posixpath.join((confdirs + includes)[0], "orch.conf"), True, restart
            )
        else:
            servers = ManagedFile(conf_path, False, restart)
        keyfiles = directives(conf_text, "keyfile")
        keys = None
        if keyfiles:
            # chronyd re-reads keys on `rekey` as its own user: group-readable, like Debian's.
            keys = ManagedFile(keyfiles[0].split()[0], False, ("chronyc rekey",), "0640")
        return Target(self.name, conf_path, servers, keys, privilege)

    def render_lines(
        self, desired: DesiredNtp, target: Target, conf_text: str = ""
    ) -> tuple[list[tuple[ManagedFile, list[str]]], list[str]]:
        lines = [server_line(s, port=True, extra=chrony_server_options(s)) for s in desired.servers]
        wanted = [(target.servers, lines)]
        warnings: list[str] = []
        key_lines = [key_line(k, self.name) for k in desired.keys]
        if target.keys is not None:
            wanted.append((target.keys, key_lines))
        elif key_lines:
            warnings.append(f"{target.main_conf} names no keys file; NTP keys were not installed")
        return wanted, warnings

    def order_reloads(self, reloads: Sequence[str]) -> list[str]:
        """Keys before sources (a source may name a new key); restarts do both, once."""
        restarts = [r for r in reloads if r.startswith("systemctl restart")]
        if restarts:
            return list(dict.fromkeys(restarts))
        return sorted(dict.fromkeys(reloads), key=lambda r: r != "chronyc rekey")
