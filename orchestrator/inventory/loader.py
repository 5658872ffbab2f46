"""load_inventory(): read, validate and resolve an inventory directory in one call."""

from __future__ import annotations

import logging
from pathlib import Path

from orchestrator.errors import InventoryError
from orchestrator.inventory.entries import Entry, read_defaults, read_entries
from orchestrator.inventory.inventory import Inventory
from orchestrator.inventory.problems import Problem, raise_if_any
from orchestrator.inventory.resolve import Site, group_problems, resolve_host
from orchestrator.inventory.yamlfile import YamlDocument, load_yaml
from orchestrator.models import Host

HOSTS_FILE = "hosts.yaml"
GROUPS_FILE = "groups.yaml"
DEFAULTS_FILE = "defaults.yaml"

log = logging.getLogger(__name__)


def load_inventory(directory: Path, *, resolve_secrets: bool = True) -> Inventory:
    """Load `directory` (Nornir SimpleInventory layout) into resolved hosts.

    Raises InventoryError with one line per problem (`file:line: host x: what`).
    With resolve_secrets=False, secret references are checked for form only and the
    Secrets hold no value (for `inventory check` and `inventory show`).
    """
    directory = Path(directory)
    if directory.is_file():
        raise InventoryError(
            f"{directory}: is a file; give the inventory directory that holds it "
            f"({HOSTS_FILE}, {GROUPS_FILE}, {DEFAULTS_FILE})"
        )
    if not directory.is_dir():
        raise InventoryError(
            f"{directory}: inventory directory not found "
            f"(it should hold {HOSTS_FILE}, and optionally {GROUPS_FILE} and {DEFAULTS_FILE})"
        )
    hosts_path = directory / HOSTS_FILE
    for name in (HOSTS_FILE, GROUPS_FILE, DEFAULTS_FILE):
        if (directory / name).is_dir():
            raise InventoryError(f"{directory / name}: is a directory; it should be a YAML file")
    if not hosts_path.is_file():
        raise InventoryError(f"{hosts_path}: missing (an inventory needs at least {HOSTS_FILE})")

    problems: list[Problem] = []
    defaults, found = read_defaults(_optional(directory / DEFAULTS_FILE))
    problems += found
    groups_doc = _optional(directory / GROUPS_FILE)
    groups, found = read_entries(groups_doc, "group") if groups_doc else ({}, [])
    problems += found
    entries, found = read_entries(load_yaml(hosts_path), "host")
    problems += found
    defined = (
        set(map(str, groups_doc.data))
        if groups_doc and isinstance(groups_doc.data, dict)
        else set()
    )
    problems += group_problems(entries, groups, defined)
    sites = _declared_sites(defaults)

    hosts: list[Host] = []
    if not problems:  # resolving on top of broken entries would only repeat their problems
        for entry in entries.values():
            host, found = resolve_host(
                entry,
                groups,
                defaults,
                sites=sites,
                directory=directory,
                resolve_secrets=resolve_secrets,
            )
            problems += found
            if host is not None:
                hosts.append(host)
    raise_if_any(problems)
    log.debug("inventory %s: %d hosts, %d groups", directory, len(hosts), len(groups))
    return Inventory(
        directory=directory,
        hosts=tuple(sorted(hosts, key=lambda h: h.name)),
        declared_sites=sites,
        group_names=tuple(sorted(groups)),
    )


def _optional(path: Path) -> YamlDocument | None:
    return load_yaml(path) if path.is_file() else None


def _declared_sites(defaults: Entry | None) -> dict[str, Site]:
    data = defaults.model.data if defaults is not None else None
    if data is None or data.sites is None:
        return {}
    return {
        name: Site(name, tuple(site.networks), site.description)
        for name, site in sorted(data.sites.items())
    }
