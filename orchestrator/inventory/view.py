"""Plain, secret-free views of resolved hosts for `orch inventory show` and reports."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.inventory.inventory import Inventory
from orchestrator.inventory.secrets import Reference, parse_reference, path_references
from orchestrator.models import Host, Secret

MASK = Secret.MASK
# Extras are free text; one whose name looks like a credential is masked all the same.
_SECRET_WORDS = re.compile(r"pass|secret|token|community|credential|private|key", re.IGNORECASE)


def masked(secret: Secret | None) -> str | None:
    """`********` for any secret (set or not), None when the host has none."""
    return None if secret is None else MASK


def secret_source(secret: Secret | None) -> str | None:
    """Where a secret comes from (`${env:NAME}`, `inline`); never the value or a default."""
    return None if secret is None else secret.source


def host_record(host: Host) -> dict[str, Any]:
    """A JSON-ready description of `host` in which every secret is masked."""
    desired = host.desired
    return {
        "name": host.name,
        "hostname": host.hostname,
        "platform": host.platform,
        "port": host.port,
        "username": host.username,
        "password": masked(host.password),
        "password_source": secret_source(host.password),
        "enable_secret": masked(host.enable_secret),
        "ssh_key_file": host.ssh_key_file,
        "ssh": {"legacy_algorithms": host.ssh_legacy_algorithms},
        "site": host.site,
        "groups": list(host.groups),
        "ntp": {
            "servers": [
                {
                    "address": s.address,
                    "key": s.key_id,
                    "prefer": s.prefer,
                    "iburst": s.iburst,
                    "minpoll": s.minpoll,
                    "maxpoll": s.maxpoll,
                    "port": s.port,
                }
                for s in desired.servers
            ],
            "source_interface": desired.source_interface,
            "vrf": desired.vrf,
            "update_calendar": desired.update_calendar,
            "authenticate": desired.authenticate,
            "keys": [
                {"id": k.key_id, "type": k.algorithm, "secret": masked(k.secret)}
                for k in desired.keys
            ],
            "thresholds": {
                "max_offset_ms": desired.thresholds.max_offset_ms,
                "max_stratum": desired.thresholds.max_stratum,
                "min_reach": desired.thresholds.min_reach,
            },
        },
        "data": {k: MASK if _SECRET_WORDS.search(k) else v for k, v in host.data},
    }


def inventory_record(inventory: Inventory, hosts: Iterable[Host]) -> dict[str, Any]:
    return {
        "directory": str(inventory.directory),
        "sites": {
            name: {
                "networks": list(networks),
                "description": (
                    inventory.declared_sites[name].description
                    if name in inventory.declared_sites
                    else None
                ),
            }
            for name, networks in inventory.site_networks().items()
        },
        "hosts": [host_record(h) for h in hosts],
    }


def _needs(reference: Reference | None) -> bool:
    """An environment reference without a default: the variable must be set."""
    return reference is not None and reference.scheme == "env" and reference.default is None


def unset_variables(
    inventory: Inventory, environ: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Environment variables the inventory references (without a default) that are not set."""
    env = os.environ if environ is None else environ
    names: set[str] = set()
    for host in inventory.hosts:
        secrets = [host.password, host.enable_secret, *(k.secret for k in host.desired.keys)]
        for secret in secrets:
            if secret is not None and secret.source.startswith("${"):
                reference = parse_reference(secret.source)
                if _needs(reference) and reference is not None and reference.name not in env:
                    names.add(reference.name)
        # unresolved references stay in the path as written; an empty variable counts as
        # unset in a path, as substitute_env treats it
        for reference in path_references(host.ssh_key_file or ""):
            if _needs(reference) and not env.get(reference.name):
                names.add(reference.name)
    return tuple(sorted(names))
