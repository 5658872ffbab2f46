"""Where inventories live: the lab inventory shipped in the wheel, and the CLI's fallback."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # orchestrator/
DEFAULT_INVENTORY = Path("inventories/lab")


def packaged_lab_inventory() -> Path:
    """The lab inventory: orchestrator/_data/inventories/lab in a wheel, else the repo's copy."""
    shipped = _PACKAGE / "_data" / "inventories" / "lab"
    if shipped.is_dir():
        return shipped
    return _PACKAGE.parent / "inventories" / "lab"


def inventory_or_packaged_lab(directory: Path) -> Path:
    """`directory`, unless it is the default ./inventories/lab and that does not exist here.

    Lets `orch verify` and friends work from any working directory after `pip install`.
    """
    if directory.exists() or Path(directory) != DEFAULT_INVENTORY:
        return directory
    return packaged_lab_inventory()
