"""chrony: orch's sources in a file of their own, read without a restart.

Debian/Ubuntu: chrony.conf reads `sourcedir /etc/chrony/sources.d`; orch writes
sources.d/orch.sources and runs `chronyc reload sources`, so the host never loses its
sources. Without a persistent `sourcedir` (RHEL's /etc/chrony.conf has only
/run/chrony-dhcp), a `confdir` or `include` directory gets orch.conf, else chrony.conf a
marked block, and chronyd restarts. Keys go in a marked block of the `keyfile`, then
`chronyc rekey`.

NTS (RFC 8915, chrony 4.0+): a server gets `nts` (and `ntsport N`), the CA certificate
goes in orch-nts-ca.crt next to chrony.conf and `ntstrustedcerts` names it - in the
servers file, or, when that is a sources file (which takes only sources), in a
`confdir`/`include` file orch-nts.conf, else a marked block of chrony.conf. chronyd
reads certificates only at start: a change to either restarts it. `chronyc -N authdata`
says which sources really authenticate with NTS.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

from orchestrator.drivers.linux.files import ManagedFile
from orchestrator.drivers.linux.keys import key_line
from orchestrator.drivers.linux.probe import Probe
from orchestrator.drivers.linux.strategy import (
    DaemonStrategy,
    Target,
    directives,
    keys_file_lines,
    server_line,
)
from orchestrator.models import DesiredNtp, NtpServerSpec

SOURCES = "chronyc -n sources"
TRACKING = "chronyc -n tracking"
AUTHDATA = "chronyc -N authdata"
NTS_CA_NAME = "orch-nts-ca.crt"
NTS_CONF_NAME = "orch-nts.conf"


def chrony_server_options(spec: NtpServerSpec) -> tuple[str, ...]:
    """chrony's per-server options beyond the common ones: NTS (chrony 4.0+)."""
    if not spec.nts:
        return ()
    return ("nts",) if spec.nts_port is None else ("nts", "ntsport", str(spec.nts_port))


_AUTHDATA_ROW = re.compile(r"^(\S+)\s+(\S+)\s+\d+\s+\d+\s+(\d+)\s")


def nts_sources(authdata: str) -> tuple[str, ...] | None:
    """Sources of `chronyc -N authdata` that authenticate with NTS and hold a key (KLen
    > 0); None when the output is no authdata table (chrony < 4.0, chronyc failed)."""
    lines = authdata.splitlines()
    if not any(line.startswith("Name/IP address") and "Mode" in line for line in lines):
        return None
    found = []
    for line in lines:
        m = _AUTHDATA_ROW.match(line)
        if m and m.group(2) == "NTS" and int(m.group(3)) > 0:
            found.append(m.group(1))
    return tuple(found)


class Chrony(DaemonStrategy):
    name = "chrony"
    hints = ("chrony", "chronyd")
    process = "chronyd"
    tool = "chronyc"
    conf_files = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
    units = ("chrony", "chronyd")
    state_commands: ClassVar[tuple[str, ...]] = (SOURCES, TRACKING)
    state_needs_root = True  # chronyc talks to chronyd over a root-only socket
    extra_commands: ClassVar[tuple[str, ...]] = (AUTHDATA,)  # which sources use NTS

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
        # chronyd reads NTS certificates at start: a changed CA or `ntstrustedcerts` restarts it
        nts_ca = ManagedFile(
            posixpath.join(posixpath.dirname(conf_path), NTS_CA_NAME), True, restart
        )
        nts_conf = None
        if servers.path.endswith(".sources"):
            nts_conf = (
                ManagedFile(posixpath.join((confdirs + includes)[0], NTS_CONF_NAME), True, restart)
                if confdirs or includes
                else ManagedFile(conf_path, False, restart)
            )
        return Target(self.name, conf_path, servers, keys, privilege, nts_ca, nts_conf)

    def render_lines(
        self,
        desired: DesiredNtp,
        target: Target,
        conf_text: str = "",
        backup: Mapping[str, str | None] | None = None,
    ) -> tuple[list[tuple[ManagedFile, list[str]]], list[str]]:
        lines = [server_line(s, port=True, extra=chrony_server_options(s)) for s in desired.servers]
        wanted, warnings = keys_file_lines(target, [key_line(k, self.name) for k in desired.keys])
        wanted.append((target.servers, lines))
        wanted += self._nts_files(desired, target, lines, backup or {})
        return wanted, warnings

    @staticmethod
    def _nts_files(
        desired: DesiredNtp,
        target: Target,
        server_lines: list[str],
        backup: Mapping[str, str | None],
    ) -> list[tuple[ManagedFile, list[str]]]:
        """The CA file and `ntstrustedcerts` naming it (appended to `server_lines` when the
        servers file holds it). When NTS goes, an existing one is emptied; one that does
        not exist is not created (no needless chronyd restart)."""
        if target.nts_ca is None:
            return []
        nts = desired.nts_ca is not None and any(s.nts for s in desired.servers)
        trust = [f"ntstrustedcerts {target.nts_ca.path}"] if nts else []
        wanted: list[tuple[ManagedFile, list[str]]] = []
        if nts or backup.get(target.nts_ca.path) is not None:
            wanted.append((target.nts_ca, (desired.nts_ca or "").splitlines() if nts else []))
        if target.nts_conf is None:
            server_lines += trust
        elif trust or backup.get(target.nts_conf.path) is not None:
            wanted.append((target.nts_conf, trust))
        return wanted

    def nts_sources(self, raw: Mapping[str, str]) -> tuple[str, ...] | None:
        return nts_sources(raw[AUTHDATA]) if AUTHDATA in raw else None

    def order_reloads(self, reloads: Sequence[str]) -> list[str]:
        """Keys before sources (a source may name a new key); restarts do both, once."""
        restarts = [r for r in reloads if r.startswith("systemctl restart")]
        if restarts:
            return list(dict.fromkeys(restarts))
        return sorted(dict.fromkeys(reloads), key=lambda r: r != "chronyc rekey")
