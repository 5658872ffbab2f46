"""Inheritance: host -> its groups (depth-first, as Nornir orders them) -> defaults.

Each value is taken from the first layer that sets it; inside `data.ntp` and
`data.ntp.thresholds` this happens per key, and a list (servers, keys) is replaced
whole. The result is a fully resolved models.Host, or problems pointing at the line
the offending value came from.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from orchestrator.inventory.entries import Entry
from orchestrator.inventory.problems import Problem
from orchestrator.inventory.schema import NtpKeyModel, NtpServerModel, is_address
from orchestrator.inventory.secrets import SecretProblem, make_secret, substitute_env
from orchestrator.models import (
    INVENTORY_PLATFORMS,
    DesiredNtp,
    Host,
    KeyAlgorithm,
    NtpKey,
    NtpServerSpec,
    Secret,
    Thresholds,
)

DEFAULT_SSH_PORT = 22
_WHERE_TO_SET = "on the host, one of its groups or in defaults.yaml"


@dataclass(frozen=True)
class Site:
    name: str
    networks: tuple[str, ...] = ()
    description: str | None = None


def extended_groups(names: Sequence[str], groups: Mapping[str, Entry]) -> list[str]:
    """Nornir's order: each group, then its own groups depth-first, without repeats."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path or name not in groups:
            return  # cycles and unknown groups are reported by group_problems()
        if name not in ordered:
            ordered.append(name)
        for parent in groups[name].groups:
            visit(parent, (*path, name))

    for name in names:
        visit(name, ())
    return ordered


def group_problems(
    hosts: Mapping[str, Entry], groups: Mapping[str, Entry], defined: Collection[str]
) -> list[Problem]:
    """Unknown group references and group cycles.

    `defined` holds every group name in groups.yaml, including groups that failed
    validation (already reported), so that their members are not reported again.
    """
    known = ", ".join(sorted(defined)) or "none: there is no groups.yaml"
    problems = []
    for entry in (*hosts.values(), *groups.values()):
        for index, name in enumerate(entry.groups):
            if name not in defined:
                text = f"group '{name}' does not exist (groups.yaml defines: {known})"
                problems.append(entry.problem(text, "groups", index))
    problems.extend(_cycles(groups))
    return problems


def _cycles(groups: Mapping[str, Entry]) -> Iterator[Problem]:
    reported: set[frozenset[str]] = set()
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> Iterator[Problem]:
        entry = groups[name]
        for index, parent in enumerate(entry.groups):
            if parent in path:
                cycle = [*path[path.index(parent) :], parent]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    text = f"group cycle {' -> '.join(cycle)} (a group cannot contain itself)"
                    yield entry.problem(text, "groups", index)
            elif parent in groups and parent not in done:
                yield from walk(parent, [*path, parent])
        done.add(name)

    for name in groups:
        if name not in done:
            yield from walk(name, [name])


class _Layers:
    """The inheritance chain of one host, with the entry each value came from."""

    def __init__(self, chain: Sequence[Entry]) -> None:
        self.chain = chain

    def pick(self, *path: str) -> tuple[Any, Entry] | None:
        for entry in self.chain:
            value: Any = entry.model
            for part in path:
                value = getattr(value, part, None)
                if value is None:
                    break
            if value is not None:
                return value, entry
        return None

    def value(self, *path: str) -> Any:
        found = self.pick(*path)
        return None if found is None else found[0]

    def extras(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for entry in reversed(self.chain):
            merged.update(entry.extras)
        return merged


def resolve_host(
    host: Entry,
    groups: Mapping[str, Entry],
    defaults: Entry | None,
    *,
    sites: Mapping[str, Site],
    directory: Path,
    resolve_secrets: bool,
) -> tuple[Host | None, list[Problem]]:
    member_of = extended_groups(host.groups, groups)
    chain = [host, *(groups[g] for g in member_of)]
    if defaults is not None:
        chain.append(defaults)
    layers = _Layers(chain)
    problems: list[Problem] = []

    def missing(what: str, example: str) -> None:
        text = f"no {what} (set {example} {_WHERE_TO_SET})"
        problems.append(Problem(host.doc.display, host.line(), host.subject, text))

    if layers.value("hostname") is None and not is_address(host.name):
        missing("hostname", "hostname: ADDRESS")
    platform = layers.value("platform")
    if platform is None:
        missing("platform", f"platform: one of {', '.join(INVENTORY_PLATFORMS)}")
    username = layers.value("username")
    if username is None:
        missing("username", "username: NAME")
    site = layers.pick("data", "site")
    if site is None:
        missing("site", "data.site: NAME")
    elif sites and site[0] not in sites:
        text = f"site '{site[0]}' unknown (defaults.yaml data.sites declares: {', '.join(sites)})"
        problems.append(_at(site[1], host, text, "data", "site"))

    password = _secret(host, layers, problems, resolve_secrets, "password")
    enable_secret = _secret(host, layers, problems, resolve_secrets, "data", "enable_secret")
    keys = _keys(host, layers, problems, resolve_secrets)
    ssh_key_file = _key_file(host, layers, problems, resolve_secrets, directory)
    desired = _desired(host, layers, site[0] if site else "?", keys, problems)
    if desired is not None:
        nts_ca = _nts_ca(host, layers, problems, directory)
        desired = replace(desired, nts_ca=nts_ca) if nts_ca else desired

    if problems or platform is None or username is None or site is None or desired is None:
        return None, problems
    return Host(
        name=host.name,
        hostname=layers.value("hostname") or host.name,
        platform=platform,
        port=layers.value("port") or DEFAULT_SSH_PORT,
        username=username,
        password=password,
        site=site[0],
        groups=tuple(member_of),
        desired=desired,
        enable_secret=enable_secret,
        ssh_key_file=ssh_key_file,
        ssh_legacy_algorithms=bool(layers.value("data", "ssh", "legacy_algorithms")),
        data=tuple(sorted(layers.extras().items())),
    ), problems


def _at(source: Entry, host: Entry, text: str, *sub: str | int) -> Problem:
    """A problem on `host` found in the value `source` set (maybe in a group or defaults)."""
    return Problem(source.doc.display, source.line(*sub), host.subject, text)


def _desired(
    host: Entry,
    layers: _Layers,
    site: str,
    keys: tuple[NtpKey, ...],
    problems: list[Problem],
) -> DesiredNtp | None:
    """The host's NTP policy, or None (with problems added) if it cannot be used."""

    def ntp(*path: str) -> Any:
        return layers.value("data", "ntp", *path)

    before = len(problems)
    found = layers.pick("data", "ntp", "servers")
    servers: list[NtpServerModel] = found[0] if found else []
    if not servers:
        text = (
            f"site '{site}' has no NTP server for this host (set data.ntp.servers {_WHERE_TO_SET})"
        )
        problems.append(Problem(host.doc.display, host.line(), host.subject, text))
    key_ids = {k.id for k in ntp("keys") or ()}
    for index, server in enumerate(servers):
        if found is not None and server.key is not None and server.key not in key_ids:
            text = (
                f"data.ntp.servers[{index}].key {server.key} is not defined in data.ntp.keys "
                f"(defined: {', '.join(map(str, sorted(key_ids))) or 'none'})"
            )
            problems.append(_at(found[1], host, text, "data", "ntp", "servers", index, "key"))
    authenticate = layers.pick("data", "ntp", "authenticate")
    if authenticate is not None and authenticate[0] and not key_ids:
        text = "data.ntp.authenticate is true but no data.ntp.keys are defined"
        problems.append(_at(authenticate[1], host, text, "data", "ntp", "authenticate"))
    if len(problems) > before:
        return None
    default = Thresholds()
    return DesiredNtp(
        servers=tuple(
            NtpServerSpec(
                address=s.address,
                key_id=s.key,
                prefer=s.prefer,
                port=s.port,
                iburst=s.iburst,
                minpoll=s.minpoll,
                maxpoll=s.maxpoll,
                nts=s.nts,
                nts_port=s.nts_port,
            )
            for s in servers
        ),
        source_interface=ntp("source_interface"),
        vrf=ntp("vrf"),
        update_calendar=_or(ntp("update_calendar"), True),
        keys=keys,
        authenticate=_or(ntp("authenticate"), False),
        thresholds=Thresholds(
            max_offset_ms=_or(ntp("thresholds", "max_offset_ms"), default.max_offset_ms),
            max_stratum=_or(ntp("thresholds", "max_stratum"), default.max_stratum),
            min_reach=_or(ntp("thresholds", "min_reach"), default.min_reach),
        ),
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _secret(
    host: Entry, layers: _Layers, problems: list[Problem], resolve: bool, *path: str
) -> Secret | None:
    found = layers.pick(*path)
    if found is None:
        return None
    try:
        return make_secret(found[0], resolve=resolve)
    except SecretProblem as exc:
        problems.append(_at(found[1], host, f"{'.'.join(path)}: {exc}", *path))
        return None


def _keys(
    host: Entry, layers: _Layers, problems: list[Problem], resolve: bool
) -> tuple[NtpKey, ...]:
    found = layers.pick("data", "ntp", "keys")
    if found is None:
        return ()
    models: list[NtpKeyModel] = found[0]
    keys = []
    for index, key in enumerate(models):
        try:
            secret = make_secret(key.secret, resolve=resolve)
        except SecretProblem as exc:
            text = f"data.ntp.keys[{index}].secret: {exc}"
            problems.append(_at(found[1], host, text, "data", "ntp", "keys", index, "secret"))
            continue
        keys.append(NtpKey(key.id, cast(KeyAlgorithm, key.type), secret, key.trusted))
    return tuple(keys)


def _nts_ca(host: Entry, layers: _Layers, problems: list[Problem], directory: Path) -> str | None:
    """The PEM text of `data.ntp.nts_ca` (a path like data.ssh_key_file: `${env:...}`,
    `~`, relative to the inventory directory); None when not set or unusable."""
    found = layers.pick("data", "ntp", "nts_ca")
    if found is None:
        return None
    where = ("data", "ntp", "nts_ca")
    try:
        path = Path(substitute_env(found[0], resolve=True)).expanduser()
        text = (path if path.is_absolute() else directory / path).read_text(encoding="ascii")
    except (SecretProblem, RuntimeError, OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(
            _at(found[1], host, f"data.ntp.nts_ca: cannot read {found[0]}: {why}", *where)
        )
        return None
    if "-----BEGIN CERTIFICATE-----" not in text:
        text = f"data.ntp.nts_ca: {found[0]} holds no PEM certificate (BEGIN CERTIFICATE)"
        problems.append(_at(found[1], host, text, *where))
        return None
    return text


def _key_file(
    host: Entry, layers: _Layers, problems: list[Problem], resolve: bool, directory: Path
) -> str | None:
    """The SSH key path: `${env:...}` substituted, then `~` expanded; a relative path is
    relative to the inventory directory, so inventories can move."""
    found = layers.pick("data", "ssh_key_file")
    if found is None:
        return None
    try:
        value = substitute_env(found[0], resolve=resolve)
    except SecretProblem as exc:
        problems.append(_at(found[1], host, f"data.ssh_key_file: {exc}", "data", "ssh_key_file"))
        return None
    if "${" in value:  # unresolved (resolve=False): shown as written
        return value
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # `~name/...` for a user this machine does not have
        user = value.split("/", 1)[0]
        problems.append(
            _at(
                found[1],
                host,
                f"data.ssh_key_file: {user!r}: no such user's home directory (write the full path)",
                "data",
                "ssh_key_file",
            )
        )
        return None
    return str(path if path.is_absolute() else directory / path)
