"""Where orch keeps its files. One place, so every layer agrees.

Everything lives under the data directory: `$ORCH_DATA_DIR` if set, else the
user's data directory (platformdirs, e.g. ~/.local/share/orch).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir


def data_dir() -> Path:
    env = os.environ.get("ORCH_DATA_DIR")
    return Path(env) if env else Path(user_data_dir("orch", appauthor=False))


def history_db() -> Path:
    """SQLite history of verify runs (orch verify / orch report)."""
    return data_dir() / "history.sqlite"


def client_log_db() -> Path:
    """SQLite client log our NTP server persists (read by orch verify and orch server status)."""
    return data_dir() / "server-clients.sqlite"


def backups_dir() -> Path:
    """Per-run device configuration backups taken before a push."""
    return data_dir() / "backups"


def locks_dir() -> Path:
    """One lock file per device: two orch runs never change (or read mid-change) one
    device at the same time."""
    return data_dir() / "locks"


def lab_state_dir() -> Path:
    """PID files, generated keys and the lab's known_hosts for `orch lab`."""
    return data_dir() / "lab"


def known_hosts() -> Path:
    """orch's own known_hosts file for device SSH host keys."""
    return data_dir() / "known_hosts"
