"""Is the server a client log describes still running? (`orch server status`)

The client log records the server's pid and start time, and its stop time when it
stops cleanly. A pid that exists proves nothing by itself: after a SIGKILL or an
OOM kill the number can be reused by any later process, so the process found must
also have started no later than the server recorded its own start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The kernel's start time and our recorded one are read at different moments of start-up.
_START_SLACK_S = 5.0


@dataclass(frozen=True)
class RunState:
    running: bool
    text: str  # "running", "stopped", "not running (...)"


def run_state(meta: Mapping[str, str], proc: Path = Path("/proc")) -> RunState:
    # "stopped" stays in the log from an earlier run; it counts only if it is newer
    # than this run's start.
    started = _stamp(meta, "started")
    if _stamp(meta, "stopped") >= started > 0:
        return RunState(False, "stopped")
    try:
        pid = int(meta.get("pid", ""))
        os.kill(pid, 0)  # signal 0: does the process exist?
    except (ValueError, ProcessLookupError):
        return RunState(False, "not running (it did not stop cleanly)")
    except PermissionError:
        pass  # exists, owned by another user (e.g. the service's DynamicUser)
    born = process_start_time(pid, proc)
    if born is not None and started > 0 and born > started + _START_SLACK_S:
        return RunState(False, f"not running (stale: pid {pid} is now another process)")
    return RunState(True, "running")


def process_start_time(pid: int, proc: Path = Path("/proc")) -> float | None:
    """When process `pid` started (epoch seconds), from /proc; None where unknown."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in (proc / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        # field 22 (starttime), counted after the ")" that ends the command name
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _stamp(meta: Mapping[str, str], key: str) -> float:
    try:
        return float(meta.get(key, "0"))
    except ValueError:
        return 0.0
