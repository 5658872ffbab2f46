"""orch's inventory in Nornir, with the same effective data per host.

Nornir's SimpleInventory reads orch's hosts.yaml, groups.yaml and defaults.yaml as they
are, but it inherits each top-level `data` key whole: `host["ntp"]` is the first `ntp`
mapping along host -> groups -> defaults. orch inherits inside `data.ntp` (and
`data.ntp.thresholds`) key by key, so a group's `keys` and the defaults' `thresholds`
both reach a host. The transform function below gives every Nornir host the `ntp` orch
uses; orch registers it with Nornir as `orch_merge_ntp` (an entry point):

    InitNornir(inventory={"plugin": "SimpleInventory",
                          "transform_function": "orch_merge_ntp",
                          "options": {...}})

Nornir is not a dependency of orch: the functions take Nornir's objects as they come.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

MERGED_KEYS = ("ntp",)  # data keys orch inherits key by key (nested mappings too)


class _Layer(Protocol):
    data: dict[str, Any]


class NornirHost(_Layer, Protocol):
    defaults: _Layer

    def extended_groups(self) -> Sequence[_Layer]: ...


def merge_per_key(layers: Sequence[Any]) -> Any:
    """The value orch takes from `layers` (host first, defaults last): the first that is
    set (null counts as unset); mappings merged key by key; lists taken whole."""
    present = [layer for layer in layers if layer is not None]
    if not present:
        return None
    if not isinstance(present[0], Mapping):
        return present[0]
    mappings = [layer for layer in present if isinstance(layer, Mapping)]
    keys = dict.fromkeys(k for m in mappings for k in m)
    merged = {k: merge_per_key([m.get(k) for m in mappings]) for k in keys}
    return {k: v for k, v in merged.items() if v is not None}


def effective_data(host: NornirHost, key: str) -> Any:
    """`host.data[key]` as orch resolves it along Nornir's own inheritance chain."""
    chain = [host, *host.extended_groups(), host.defaults]
    return merge_per_key([layer.data.get(key) for layer in chain])


def orch_merge_ntp(host: NornirHost) -> None:
    """Nornir transform function: the host's own `data.ntp` becomes the merged one."""
    for key in MERGED_KEYS:
        value = effective_data(host, key)
        if value is not None:
            host.data[key] = value
