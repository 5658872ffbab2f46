"""Suite-wide: every test runs with its own orch data directory.

Without this, a test that does not set ORCH_DATA_DIR reads and writes the developer's
~/.local/share/orch (history, client log, backups), so results depended on whatever an
earlier run or another checkout left there. Tests that need a particular data directory
still set ORCH_DATA_DIR themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    data = tmp_path_factory.mktemp("orch-data")
    monkeypatch.setenv("ORCH_DATA_DIR", str(data))
    return data
