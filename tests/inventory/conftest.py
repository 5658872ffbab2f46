"""Helpers to write small inventories into temporary directories."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

VALID_DEFAULTS = """\
username: netops
password: ${env:ORCH_TEST_PASSWORD:-not-a-real-password}
data:
  sites:
    hq:
      networks: ["192.0.2.0/24"]
    branch:
      networks: ["198.51.100.0/24"]
  ntp:
    servers:
      - address: 192.0.2.10
        prefer: true
"""

VALID_GROUPS = """\
ios:
  platform: cisco_ios
hq:
  data:
    site: hq
"""

VALID_HOSTS = """\
core1:
  hostname: 192.0.2.1
  groups: [hq, ios]
"""

WriteInventory = Callable[..., Path]


@pytest.fixture
def write_inventory(tmp_path: Path) -> WriteInventory:
    """write_inventory(hosts=..., groups=..., defaults=...) -> directory; None leaves a file out."""
    counter = iter(range(1000))

    def write(
        hosts: str | None = VALID_HOSTS,
        groups: str | None = VALID_GROUPS,
        defaults: str | None = VALID_DEFAULTS,
    ) -> Path:
        directory = tmp_path / f"inv{next(counter)}"
        directory.mkdir()
        for name, text in (("hosts", hosts), ("groups", groups), ("defaults", defaults)):
            if text is not None:
                (directory / f"{name}.yaml").write_text(textwrap.dedent(text))
        return directory

    return write
