"""What a Linux host runs, has installed, and who orch is there: one exec, parsed."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from orchestrator.errors import DeviceError

# Every path and unit any daemon strategy looks for (kept here so the probe stays one exec).
CONF_FILES = (
    "/etc/chrony/chrony.conf",
    "/etc/chrony.conf",
    "/etc/ntpsec/ntp.conf",
    "/etc/ntp.conf",
    "/etc/systemd/timesyncd.conf",
)
UNITS = ("chrony", "chronyd", "ntpsec", "ntp", "ntpd", "systemd-timesyncd")
PROCESSES = ("chronyd", "ntpd", "systemd-timesyn")  # /proc/PID/comm, 15 characters at most
TOOLS = ("chronyc", "ntpq", "timedatectl", "systemctl", "sudo")

PROBE_SCRIPT = "; ".join(
    [
        'echo "uid=$(id -u)"',
        'for c in /proc/[0-9]*/comm; do read -r n < "$c" 2>/dev/null && echo "comm=$n"; done'
        " | sort -u | grep -xE 'comm=(" + "|".join(PROCESSES) + ")'",
        'for d in /proc/[0-9]*; do if [ "$(cat "$d/comm" 2>/dev/null)" = chronyd ]; then'
        " printf 'chronyd_args='; tr '\\0' ' ' < \"$d/cmdline\"; echo; break; fi; done",
        "for t in " + " ".join(TOOLS) + "; do"
        ' command -v "$t" >/dev/null 2>&1 && echo "tool=$t"; done',
        "for f in " + " ".join(CONF_FILES) + '; do [ -f "$f" ] && echo "file=$f"; done',
        # systemd is the service manager only where /run/systemd/system exists.
        "[ -d /run/systemd/system ] && echo systemd=yes",
        "if [ -d /run/systemd/system ]; then for u in " + " ".join(UNITS) + "; do"
        ' systemctl is-active --quiet "$u.service" 2>/dev/null && echo "unit=$u"; done; fi',
        # Can sudo run without a password? (only asked when not root)
        '[ "$(id -u)" -ne 0 ] && sudo -n true 2>/dev/null && echo sudo=nopasswd',
        "true",
    ]
)
PROBE = "sh -c " + shlex.quote(PROBE_SCRIPT)  # POSIX sh, whatever the login shell


@dataclass(frozen=True)
class Probe:
    """The facts PROBE printed."""

    uid: int
    running: frozenset[str]  # process names (comm) of running time daemons
    chronyd_args: tuple[str, ...]
    tools: frozenset[str]
    files: frozenset[str]
    units: frozenset[str]  # active systemd units
    systemd: bool = False
    sudo_nopasswd: bool = False

    @classmethod
    def parse(cls, text: str) -> Probe:
        values: dict[str, list[str]] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values.setdefault(key.strip(), []).append(value.strip())
        uid_text = (values.get("uid") or [""])[0]
        if not uid_text.isdigit():
            raise DeviceError(f"unexpected answer to the NTP daemon probe: {text.strip()[:120]!r}")
        return cls(
            uid=int(uid_text),
            running=frozenset(values.get("comm", [])),
            chronyd_args=tuple((values.get("chronyd_args") or [""])[0].split()),
            tools=frozenset(values.get("tool", [])),
            files=frozenset(values.get("file", [])),
            units=frozenset(values.get("unit", [])),
            systemd="yes" in values.get("systemd", []),
            sudo_nopasswd="nopasswd" in values.get("sudo", []),
        )

    def first_file(self, candidates: tuple[str, ...], default: str) -> str:
        return next((f for f in candidates if f in self.files), default)
