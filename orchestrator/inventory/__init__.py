"""Inventories: load, validate and resolve hosts, groups, defaults, sites and secrets.

The directory layout is Nornir's SimpleInventory (hosts.yaml, groups.yaml,
defaults.yaml), so the same files load in Nornir.
"""

from orchestrator.inventory.inventory import Inventory
from orchestrator.inventory.loader import load_inventory
from orchestrator.inventory.locate import inventory_or_packaged_lab, packaged_lab_inventory
from orchestrator.inventory.resolve import Site

__all__ = [
    "Inventory",
    "Site",
    "inventory_or_packaged_lab",
    "load_inventory",
    "packaged_lab_inventory",
]
