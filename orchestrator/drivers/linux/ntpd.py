"""ntpd (classic ntp or NTPsec): a marked block in ntp.conf, then a restart.

The block holds the servers and `trustedkey`; keys go in a marked block of the file the
`keys` directive names. Debian's NTPsec ntp.conf says `tos minclock 4 minsane 3`: ntpd
then follows no one until three sources agree, so with fewer desired servers the block
lowers `minsane` to their number (a later `tos` line wins) and the plan says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from orchestrator.drivers.linux.files import ManagedFile, replace_block
from orchestrator.drivers.linux.keys import key_line
from orchestrator.drivers.linux.probe import Probe
from orchestrator.drivers.linux.strategy import (
    DaemonStrategy,
    Target,
    directives,
    keys_file_lines,
    no_nts_warnings,
    server_line,
)
from orchestrator.models import DesiredNtp

NTPQ = "ntpq -pn"
NTPSEC_CONF = "/etc/ntpsec/ntp.conf"


def is_ntpsec(main_conf: str) -> bool:
    return "/ntpsec/" in main_conf


def minsane(conf_text: str) -> int | None:
    """The last `tos ... minsane N` of an ntp.conf (None: ntpd's default, 1)."""
    found = None
    for value in directives(conf_text, "tos"):
        match = re.search(r"\bminsane\s+(\d+)", value)
        if match:
            found = int(match[1])
    return found


class Ntpd(DaemonStrategy):
    name = "ntpd"
    hints = ("ntp", "ntpd", "ntpsec")
    process = "ntpd"
    tool = "ntpq"
    conf_files = (NTPSEC_CONF, "/etc/ntp.conf")
    units = ("ntpsec", "ntp", "ntpd")
    state_commands: ClassVar[tuple[str, ...]] = (NTPQ,)

    def main_conf(self, probe: Probe) -> str:
        return probe.first_file(self.conf_files, "/etc/ntp.conf")

    def unit(self, probe: Probe) -> str:
        active = [u for u in self.units if u in probe.units]
        if active:
            return active[0]
        return "ntpsec" if NTPSEC_CONF in probe.files else "ntp"

    def target(self, probe: Probe, conf_path: str, conf_text: str, privilege: str) -> Target:
        restart = self.restart(probe)
        keyfiles = directives(conf_text, "keys")
        keys = ManagedFile(keyfiles[0].split()[0], False, restart, "0600") if keyfiles else None
        return Target(self.name, conf_path, ManagedFile(conf_path, False, restart), keys, privilege)

    def render_lines(
        self,
        desired: DesiredNtp,
        target: Target,
        conf_text: str = "",
        backup: Mapping[str, str | None] | None = None,
    ) -> tuple[list[tuple[ManagedFile, list[str]]], list[str]]:
        warnings = no_nts_warnings(self.name, desired)
        warnings += [
            f"ntpd always uses port 123; ignoring port {s.port}"
            for s in desired.servers
            if s.port != 123
        ]
        lines = [server_line(s, port=False) for s in desired.servers]
        trusted = sorted(k.key_id for k in desired.keys if k.trusted)
        if trusted:
            lines.append("trustedkey " + " ".join(map(str, trusted)))
        needed = minsane(replace_block(conf_text, []))  # what holds without orch's block
        count = len(desired.servers)
        if needed is not None and 0 < count < needed:
            lines.append(f"tos minsane {count}")
            warnings.append(
                f"{target.main_conf} sets minsane {needed}, more than the {count} desired "
                f"server(s): orch's block lowers it to {count} so that ntpd can synchronise"
            )
        ntpsec = is_ntpsec(target.main_conf)
        wanted, no_keys = keys_file_lines(
            target, [key_line(k, self.name, ntpsec=ntpsec) for k in desired.keys]
        )
        wanted.append((target.servers, lines))
        warnings += no_keys
        return wanted, warnings
