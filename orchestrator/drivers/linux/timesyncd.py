"""systemd-timesyncd: /etc/systemd/timesyncd.conf.d/orch.conf, then a restart.

timesyncd is an SNTP client: no keys, no port (`NTP=addr:port` is taken as a name that
never resolves, systemd issue #32218), no per-server options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from orchestrator.drivers.linux.files import ManagedFile
from orchestrator.drivers.linux.probe import Probe
from orchestrator.drivers.linux.strategy import (
    DaemonStrategy,
    Target,
    configured_in,
    no_nts_warnings,
)
from orchestrator.models import ConfiguredNtp, DesiredNtp

CONF = "/etc/systemd/timesyncd.conf"
DROPIN = "/etc/systemd/timesyncd.conf.d/orch.conf"
TIMESYNC_STATUS = "timedatectl timesync-status"
SHOW_TIMESYNC = "timedatectl show-timesync"
TIMEDATECTL = "timedatectl"


class Timesyncd(DaemonStrategy):
    name = "timesyncd"
    hints = ("timesyncd", "systemd-timesyncd")
    process = "systemd-timesyn"
    tool = None
    conf_files = (CONF,)
    units = ("systemd-timesyncd",)
    state_commands: ClassVar[tuple[str, ...]] = (TIMESYNC_STATUS, SHOW_TIMESYNC, TIMEDATECTL)
    warns_duplicates = False  # NTP= lists names only: a duplicate has no options to lose

    def main_conf(self, probe: Probe) -> str:
        return CONF

    def target(self, probe: Probe, conf_path: str, conf_text: str, privilege: str) -> Target:
        dropin = ManagedFile(DROPIN, True, self.restart(probe))
        return Target(self.name, CONF, dropin, None, privilege)

    def render_lines(
        self,
        desired: DesiredNtp,
        target: Target,
        conf_text: str = "",
        backup: Mapping[str, str | None] | None = None,
    ) -> tuple[list[tuple[ManagedFile, list[str]]], list[str]]:
        warnings = no_nts_warnings("systemd-timesyncd", desired)
        warnings += [
            f"systemd-timesyncd always uses port 123; ignoring {s.port}"
            for s in desired.servers
            if s.port != 123
        ]
        if desired.keys or any(s.key_id is not None for s in desired.servers):
            warnings.append("systemd-timesyncd (SNTP) has no authentication; keys not set")
        lines = ["[Time]", "NTP=" + " ".join(desired.server_addresses)]
        return [(target.servers, lines)], warnings

    def configured(self, files: Mapping[str, str]) -> ConfiguredNtp:
        """timesyncd.conf, then its drop-ins in order: the last `NTP=` wins."""
        config = ConfiguredNtp()
        for path in sorted(files, key=lambda p: (p != CONF, p)):
            found = configured_in(path, files[path])
            if found.servers:
                config = found
        return config
