"""A loaded inventory: resolved hosts, declared sites, and selection by site/host/platform/group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import InputError
from orchestrator.inventory.resolve import Site
from orchestrator.models import Host


@dataclass(frozen=True)
class Inventory:
    directory: Path
    hosts: tuple[Host, ...]  # resolved, sorted by name
    declared_sites: Mapping[str, Site] = field(default_factory=dict)  # defaults.yaml data.sites
    group_names: tuple[str, ...] = ()

    def sites(self) -> tuple[str, ...]:
        """Every site: those declared in defaults.yaml and those hosts name."""
        return tuple(sorted({*self.declared_sites, *(h.site for h in self.hosts)}))

    def site_networks(self) -> dict[str, tuple[str, ...]]:
        """Declared networks per site (empty where a site declares none)."""
        return {
            site: self.declared_sites[site].networks if site in self.declared_sites else ()
            for site in self.sites()
        }

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise InputError(_unknown("host", name, [h.name for h in self.hosts], self.directory))

    def select(
        self,
        site: str | None = None,
        hosts: Sequence[str] | None = None,
        platform: str | None = None,
        group: str | None = None,
    ) -> tuple[Host, ...]:
        """Hosts matching every given filter; an unknown name is an InputError listing choices."""
        chosen = self.hosts
        if site is not None:
            if site not in self.sites():
                raise InputError(_unknown("site", site, self.sites(), self.directory))
            chosen = tuple(h for h in chosen if h.site == site)
        if hosts:
            names = {h.name for h in self.hosts}
            for name in hosts:
                if name not in names:
                    raise InputError(_unknown("host", name, sorted(names), self.directory))
            wanted = set(hosts)
            chosen = tuple(h for h in chosen if h.name in wanted)
        if platform is not None:
            platforms = sorted({h.platform for h in self.hosts})
            if platform not in platforms:
                raise InputError(_unknown("platform", platform, platforms, self.directory))
            chosen = tuple(h for h in chosen if h.platform == platform)
        if group is not None:
            if group not in self.group_names:
                raise InputError(_unknown("group", group, self.group_names, self.directory))
            chosen = tuple(h for h in chosen if group in h.groups)
        return chosen


def _unknown(kind: str, name: str, known: Sequence[str], directory: Path) -> str:
    listed = ", ".join(known[:30]) + (f" and {len(known) - 30} more" if len(known) > 30 else "")
    return f"unknown {kind} '{name}' (the inventory {directory} has: {listed or 'none'})"
