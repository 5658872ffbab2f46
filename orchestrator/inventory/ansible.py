"""Import an Ansible inventory (YAML or INI) into orch's layout.

Ansible groups become groups (children point at their parents through `groups:`),
`all` vars become defaults.yaml, and the connection variables orch understands are
translated. Passwords are never copied: each becomes an `${env:...}` reference (an
existing `{{ lookup('env', 'X') }}` keeps its variable). Variables orch has no use
for are reported, not carried.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import InputError, InventoryError
from orchestrator.inventory.schema import is_name
from orchestrator.inventory.yamlfile import load_yaml

# ansible_network_os values (short and collection forms) -> orch platform
NETWORK_OS: Mapping[str, str] = {
    "ios": "cisco_ios",
    "cisco.ios.ios": "cisco_ios",
    "cisco.ios": "cisco_ios",
    "ios-xe": "cisco_ios",
    "iosxe": "cisco_ios",
    "ios_xe": "cisco_ios",
    "cisco_ios": "cisco_ios",
    "catos": "cisco_catos",
    "cisco_catos": "cisco_catos",
    # Platforms orch drives through napalm's own drivers.
    "eos": "eos",
    "arista.eos.eos": "eos",
    "junos": "junos",
    "junipernetworks.junos.junos": "junos",
    "nxos": "nxos",
    "cisco.nxos.nxos": "nxos",
    "iosxr": "iosxr",
    "cisco.iosxr.iosxr": "iosxr",
}
_WINDOWS_CONNECTIONS = {"winrm", "psrp"}
_WINDOWS_SHELLS = {"powershell", "cmd"}
_WINRM_PORTS = {5985, 5986}

_HOSTNAME_VARS = ("ansible_host", "ansible_ssh_host")
_PORT_VARS = ("ansible_port", "ansible_ssh_port")
_USER_VARS = ("ansible_user", "ansible_ssh_user")
_PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
_ENABLE_VARS = ("ansible_become_password", "ansible_become_pass", "ansible_enable_pass")
_KEY_FILE_VARS = ("ansible_ssh_private_key_file", "ansible_private_key_file")
_PLATFORM_VARS = (
    "ansible_network_os",
    "ansible_connection",
    "ansible_os_family",
    "ansible_shell_type",
)
_SITE_VARS = ("orch_site", "site")
_KNOWN_VARS = frozenset(
    _HOSTNAME_VARS
    + _PORT_VARS
    + _USER_VARS
    + _PASSWORD_VARS
    + _ENABLE_VARS
    + _KEY_FILE_VARS
    + _PLATFORM_VARS
    + _SITE_VARS
)
_ENV_LOOKUP = re.compile(
    r"""\{\{\s*lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}"""
)
_RANGE = re.compile(r"\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\]")


@dataclass
class AnsibleGroup:
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


@dataclass
class AnsibleInventory:
    """Ansible's own structure, before any translation."""

    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # host vars
    host_groups: dict[str, list[str]] = field(default_factory=dict)  # direct groups
    groups: dict[str, AnsibleGroup] = field(default_factory=dict)

    def add_host(self, name: str, group: str, host_vars: Mapping[str, Any]) -> None:
        self.hosts.setdefault(name, {}).update(host_vars)
        member_of = self.host_groups.setdefault(name, [])
        if group not in member_of:
            member_of.append(group)
        self.group(group)

    def group(self, name: str) -> AnsibleGroup:
        return self.groups.setdefault(name, AnsibleGroup())


@dataclass(frozen=True)
class ImportResult:
    files: tuple[Path, ...]
    hosts: int
    groups: int
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------- reading


def read_ansible(path: Path) -> AnsibleInventory:
    """Parse an Ansible inventory file; YAML if it parses as a YAML mapping, else INI."""
    if not path.is_file():
        raise InputError(f"{path}: no such file (give an Ansible inventory in YAML or INI form)")
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in {".yml", ".yaml"} or _looks_like_yaml(text):
        return _read_yaml(path)
    return _read_ini(path, text)


def _looks_like_yaml(text: str) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and any(isinstance(v, dict) or v is None for v in data.values())


def _read_yaml(path: Path) -> AnsibleInventory:
    doc = load_yaml(path)
    inventory = AnsibleInventory()
    if doc.data is None:
        return inventory
    if not isinstance(doc.data, dict):
        raise InventoryError(f"{path}:1: expected a mapping of Ansible groups (e.g. `all:`)")
    for name, body in doc.data.items():
        _yaml_group(inventory, str(name), body, doc.where((name,)))
    return inventory


def _yaml_group(inventory: AnsibleInventory, name: str, body: Any, where: str) -> None:
    group = inventory.group(name)
    if body is None:
        return
    if not isinstance(body, dict):
        raise InventoryError(f"{where}: group {name}: expected hosts:, vars: or children:")
    unknown = sorted(set(map(str, body)) - {"hosts", "vars", "children"})
    if unknown:
        raise InventoryError(
            f"{where}: group {name}: unknown key '{unknown[0]}' (expected hosts, vars, children)"
        )
    for host, host_vars in (body.get("hosts") or {}).items():
        for expanded in _expand(str(host), where):
            inventory.add_host(expanded, name, host_vars or {})
    group.vars.update(body.get("vars") or {})
    for child, child_body in (body.get("children") or {}).items():
        if str(child) not in group.children:
            group.children.append(str(child))
        _yaml_group(inventory, str(child), child_body, where)


def _read_ini(path: Path, text: str) -> AnsibleInventory:
    inventory = AnsibleInventory()
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([^\]:]+)(?::(vars|children))?\]", line)
        if header:
            section, kind = header[1].strip(), header[2] or "hosts"
            inventory.group(section)
            continue
        if line.startswith("["):
            raise InventoryError(f"{path}:{number}: malformed section header {line!r}")
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InventoryError(f"{path}:{number}: cannot split line ({exc})") from None
        if not tokens:
            continue
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise InventoryError(f"{path}:{number}: expected key=value under [{section}:vars]")
            inventory.group(section).vars[key.strip()] = _ini_value(value.strip())
        elif kind == "children":
            inventory.group(tokens[0])
            if tokens[0] not in inventory.group(section).children:
                inventory.group(section).children.append(tokens[0])
        else:
            host_vars = {}
            for token in tokens[1:]:
                key, sep, value = token.partition("=")
                if not sep:
                    raise InventoryError(f"{path}:{number}: expected key=value, got {token!r}")
                host_vars[key] = _ini_value(value)
            name = tokens[0]
            port = re.fullmatch(r"([^:\[\]]+):([0-9]+)", name)  # `host:2222`, not IPv6
            if port:
                name = port[1]
                host_vars.setdefault("ansible_port", int(port[2]))
            for expanded in _expand(name, f"{path}:{number}"):
                inventory.add_host(expanded, section, host_vars)
    return inventory


def _ini_value(text: str) -> Any:
    """Ansible evaluates INI values as Python literals where they are, else keeps text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")


# More hosts than one pattern may stand for: a typo (`[1:100000]`) must not exhaust memory.
MAX_RANGE_HOSTS = 10_000


def _expand(pattern: str, where: str) -> list[str]:
    """Ansible host ranges: `web[01:03]`, `db-[a:c]`, `[1:9:2]`. A zero step, a range
    that runs backwards or one that stands for more than MAX_RANGE_HOSTS hosts is an
    InventoryError at `where`."""
    match = _RANGE.search(pattern)
    if match is None:
        return [pattern]
    start, end, step = match[1], match[2], int(match[3] or 1)
    head, tail = pattern[: match.start()], pattern[match.end() :]
    if start.isdigit() != end.isdigit():
        raise InventoryError(f"{where}: host range {match[0]!r} mixes a number and a letter")
    numeric = start.isdigit()
    first, last = (int(start), int(end)) if numeric else (ord(start), ord(end))
    count = (last - first) // step + 1 if step > 0 and last >= first else 0
    if count == 0 or count > MAX_RANGE_HOSTS:
        raise InventoryError(
            f"{where}: host range {match[0]!r} in {pattern!r} "
            + (
                "is empty (start after end, or step 0)"
                if count == 0
                else f"stands for {count} hosts (at most {MAX_RANGE_HOSTS})"
            )
        )
    width = len(start) if numeric and start.startswith("0") else 0
    values = [str(i).zfill(width) if numeric else chr(i) for i in range(first, last + 1, step)]
    hosts: list[str] = []
    for value in values:
        hosts += _expand(head + value + tail, where)
        if len(hosts) > MAX_RANGE_HOSTS:
            raise InventoryError(
                f"{where}: {pattern!r} stands for more than {MAX_RANGE_HOSTS} hosts"
            )
    return hosts


# --------------------------------------------------------------------------- translating


@dataclass
class _Layout:
    defaults: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def convert(inventory: AnsibleInventory, *, ntp_servers: list[str], site: str) -> _Layout:
    layout = _Layout()
    parents = _parents(inventory)
    all_vars = inventory.groups.get("all", AnsibleGroup()).vars
    layout.defaults = {"platform": "linux", "port": 22}
    layout.defaults.update(_translate(all_vars, "all", layout.warnings))
    layout.defaults.setdefault("data", {})
    layout.defaults["data"].setdefault("site", site)
    layout.defaults["data"]["ntp"] = {
        "servers": [
            {"address": a, "iburst": True, "prefer": i == 0} for i, a in enumerate(ntp_servers)
        ]
    }
    for name, group in inventory.groups.items():
        if name in {"all", "ungrouped"}:
            continue
        if not is_name(name):
            layout.warnings.append(f"group {name}: name is not valid in orch; skipped")
            continue
        entry = _translate(group.vars, f"group {name}", layout.warnings)
        own_parents = [p for p in parents.get(name, []) if p not in {"all", "ungrouped"}]
        if own_parents:
            entry["groups"] = own_parents
        layout.groups[name] = entry
    depth = _depths(inventory, parents)
    for name, host_vars in inventory.hosts.items():
        if not is_name(name):
            layout.warnings.append(f"host {name}: name is not valid in orch; skipped")
            continue
        effective = _effective_vars(inventory, name, parents, depth)
        if _platform(effective) is None:
            layout.warnings.append(
                f"host {name}: ansible_network_os {effective.get('ansible_network_os')!r} has no "
                f"orch platform (supported: {', '.join(sorted(set(NETWORK_OS.values())))}, "
                "linux, windows); skipped"
            )
            continue
        # Always write the address: Nornir, unlike Ansible, does not fall back to the name.
        entry = {"hostname": name, **_translate(host_vars, f"host {name}", layout.warnings)}
        member_of = [g for g in inventory.host_groups.get(name, []) if g in layout.groups]
        # Ansible lets the deeper, then alphabetically later group win; Nornir (and orch)
        # let the first listed group win, so list them in reverse of Ansible's order.
        member_of.sort(key=lambda g: (depth.get(g, 0), g), reverse=True)
        if member_of:
            entry["groups"] = member_of
        layout.hosts[name] = entry
    return layout


def _translate(source: Mapping[str, Any], scope: str, warnings: list[str]) -> dict[str, Any]:
    """orch keys for the Ansible variables of one host, group or `all`."""
    entry: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for var in _HOSTNAME_VARS:
        if var in source:
            entry["hostname"] = str(source[var])
    for var in _PORT_VARS:
        if var in source:
            try:
                port = int(source[var])
            except (TypeError, ValueError):
                warnings.append(f"{scope}: {var} is not a number; left out")
                continue
            if port in _WINRM_PORTS:
                warnings.append(
                    f"{scope}: {var} {port} is WinRM; orch reaches Windows over OpenSSH (port 22)"
                )
                continue
            entry["port"] = port
    for var in _USER_VARS:
        if var in source:
            entry["username"] = str(source[var])
    for var in _PASSWORD_VARS:
        if var in source:
            entry["password"] = _reference(source[var], scope, "PASSWORD")
    for var in _ENABLE_VARS:
        if var in source:
            data["enable_secret"] = _reference(source[var], scope, "ENABLE_SECRET")
    for var in _KEY_FILE_VARS:
        if var in source:
            data["ssh_key_file"] = str(source[var])
    platform = _platform(source)
    if platform is not None and any(var in source for var in _PLATFORM_VARS):
        entry["platform"] = platform
    for var in _SITE_VARS:
        if var in source:
            data["site"] = str(source[var])
    dropped = sorted(var for var in source if var not in _KNOWN_VARS)
    if dropped:
        warnings.append(f"{scope}: not imported (orch has no use for them): {', '.join(dropped)}")
    if data:
        entry["data"] = data
    return entry


def _platform(variables: Mapping[str, Any]) -> str | None:
    """The orch platform for these variables; linux when nothing says otherwise."""
    network_os = variables.get("ansible_network_os")
    if network_os is not None:
        return NETWORK_OS.get(str(network_os).lower())
    if str(variables.get("ansible_connection", "")).lower() in _WINDOWS_CONNECTIONS:
        return "windows"
    if str(variables.get("ansible_os_family", "")).lower() == "windows":
        return "windows"
    if str(variables.get("ansible_shell_type", "")).lower() in _WINDOWS_SHELLS:
        return "windows"
    return "linux"


def _reference(value: Any, scope: str, what: str) -> str:
    """An env reference for a secret; the literal value itself is never carried over."""
    if isinstance(value, str):
        lookup = _ENV_LOOKUP.fullmatch(value.strip())
        if lookup:
            return f"${{env:{lookup[1]}}}"
    name = scope.split(" ", 1)[-1] if " " in scope else ""
    suffix = "_" + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() if name else ""
    return f"${{env:ORCH_{what}{suffix}}}"


def _parents(inventory: AnsibleInventory) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {}
    for name, group in inventory.groups.items():
        for child in group.children:
            parents.setdefault(child, []).append(name)
    return parents


def _depths(inventory: AnsibleInventory, parents: Mapping[str, list[str]]) -> dict[str, int]:
    """Ansible's group depth: distance from `all` along the longest parent chain."""
    depth: dict[str, int] = {}

    def of(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        ups = [p for p in parents.get(name, []) if p not in seen]
        value = 1 + max((of(p, seen | {name}) for p in ups), default=0)
        depth[name] = value
        return value

    for name in inventory.groups:
        of(name, frozenset())
    return depth


def _effective_vars(
    inventory: AnsibleInventory,
    host: str,
    parents: Mapping[str, list[str]],
    depth: Mapping[str, int],
) -> dict[str, Any]:
    """The host's variables after Ansible's precedence: all < groups by depth < host."""
    member: set[str] = set()
    todo = list(inventory.host_groups.get(host, []))
    while todo:
        name = todo.pop()
        if name not in member:
            member.add(name)
            todo.extend(parents.get(name, []))
    merged: dict[str, Any] = dict(inventory.groups.get("all", AnsibleGroup()).vars)
    for name in sorted(member - {"all"}, key=lambda g: (depth.get(g, 0), g)):
        merged.update(inventory.groups[name].vars)
    merged.update(inventory.hosts.get(host, {}))
    return merged


# --------------------------------------------------------------------------- writing

_HEADER = (
    "# Imported by `orch inventory import ansible` from {source}.\n"
    "# Passwords are environment references; export the variables before push/verify.\n"
)


def import_ansible(
    source: Path, out: Path, *, ntp_servers: list[str], site: str, force: bool = False
) -> ImportResult:
    """Convert `source` and write hosts.yaml, groups.yaml, defaults.yaml under `out`."""
    if not ntp_servers:
        raise InputError(
            "give the NTP server(s) the imported hosts should use with --ntp-server ADDRESS"
        )
    inventory = read_ansible(source)
    if not inventory.hosts:  # empty, only comments, or only empty groups
        raise InputError(
            f"{source}: no hosts in this Ansible inventory (nothing to import)",
            hint="give the inventory file that lists the hosts",
        )
    layout = convert(inventory, ntp_servers=ntp_servers, site=site)
    if not layout.hosts:
        raise InputError(
            f"{source}: no host can be imported ({len(inventory.hosts)} skipped, first: "
            f"{next(w for w in layout.warnings if w.startswith('host '))})"
        )
    targets = {name: out / name for name in ("hosts.yaml", "groups.yaml", "defaults.yaml")}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} already exists (choose another --out, or pass --force)")
    out.mkdir(parents=True, exist_ok=True)
    header = _HEADER.format(source=source.name)
    for name, content in (
        ("hosts.yaml", layout.hosts),
        ("groups.yaml", layout.groups),
        ("defaults.yaml", layout.defaults),
    ):
        body = yaml.safe_dump(content, sort_keys=False, default_flow_style=False) if content else ""
        targets[name].write_text(header + body, encoding="utf-8")
    return ImportResult(
        files=tuple(targets.values()),
        hosts=len(layout.hosts),
        groups=len(layout.groups),
        warnings=tuple(layout.warnings),
    )
