"""Lab specs from inventories, and inventories from running labs.

A lab inventory is an ordinary orch inventory (hosts.yaml / groups.yaml /
defaults.yaml). Hosts of platform cisco_ios, cisco_catos and windows become simulated
devices on their `hostname:port`; hosts of platform linux become real Linux hosts.
Lab-only settings are plain-text `data` extras (test inventories only):

    data:
      lab_faults: "no_calendar; slow_response_s=2; unreachable_servers=127.0.0.1"
      lab_clock_error_s: 0.5        # device clock ahead by 500 ms
      lab_drift_ppm: 20
      lab_startup: "ntp server 127.0.0.9; ntp source Loopback0"   # startup config lines

Faults that play real devices' habits (lab/spec.py Faults, sources in device-quirks.md):
`hostname=dc1-core-router-01-edge`, `prompt=%h-STP-1234%p`, `banner=no_newline|prompt_chars`,
`login_delay_s=1`, `privilege15`, `aaa_refuse=terminal length,configure terminal`,
`config_locked`, `domain_lookup`, `save_confirm`, `save_delay_s=15`,
`syslog=plain|timestamps`, `legacy_ssh`, `keyboard_interactive`, `input_buffer=64`,
`echo_width=80`, `reject_message=invalid|incomplete|ambiguous|authorization|aaa`.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.lab.runtime import DeviceEndpoint
from orchestrator.lab.spec import (
    SIMULATED_PLATFORMS,
    DeviceSpec,
    Faults,
    LabSpec,
    LinuxHostsSpec,
)
from orchestrator.models import Host

_BOOL_FAULTS = (
    "wrong_password",
    "no_calendar",
    "access_group_block",
    "domain_policy",
    "privilege15",
    "config_locked",
    "domain_lookup",
    "save_confirm",
    "legacy_ssh",
    "keyboard_interactive",
)
_LIST_FAULTS = ("reject_commands", "unreachable_servers", "aaa_refuse")
_FLOAT_FAULTS = ("slow_response_s", "login_delay_s", "save_delay_s")
_INT_FAULTS = ("input_buffer", "echo_width")
# text faults and the values they take (None: any text)
_TEXT_FAULTS: dict[str, tuple[str, ...] | None] = {
    "drop_on_command": None,
    "hostname": None,
    "prompt": None,
    "banner": ("no_newline", "prompt_chars"),
    "syslog": ("plain", "timestamps"),
    "reject_message": ("invalid", "incomplete", "ambiguous", "authorization", "aaa"),
}


def parse_faults(text: str, where: str) -> Faults:
    """`"no_calendar; slow_response_s=2; reject_commands=ntp server,ntp source"`."""
    values: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        value = value.strip()
        choices = _TEXT_FAULTS.get(name)
        if name in _BOOL_FAULTS and not eq:
            values[name] = True
        elif name in _FLOAT_FAULTS + _INT_FAULTS and eq:
            try:
                values[name] = float(value) if name in _FLOAT_FAULTS else int(value)
            except ValueError:
                what = "seconds" if name in _FLOAT_FAULTS else "a whole number"
                raise InventoryError(
                    f"{where}: lab_faults {name} needs {what}, not {value!r}"
                ) from None
        elif name in _TEXT_FAULTS and eq and value:
            if choices is not None and value not in choices:
                raise InventoryError(
                    f"{where}: lab_faults {name}={value!r} is not one of {', '.join(choices)}"
                )
            values[name] = value
        elif name in _LIST_FAULTS and eq and value:
            values[name] = tuple(v.strip() for v in value.split(",") if v.strip())
        else:
            known = ", ".join(f.name for f in dataclasses.fields(Faults))
            raise InventoryError(
                f"{where}: unknown lab fault {item!r}",
                hint=f"known faults: {known}; values as name=value, separated by ';'",
            )
    return Faults(**values)


def _float_extra(host: Host, key: str, where: str) -> float:
    text = host.data_get(key)
    if text is None:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise InventoryError(f"{where}: data.{key} must be a number, not {text!r}") from None


def device_from_host(host: Host, where: str) -> DeviceSpec:
    password = host.password.reveal() if host.password else ""
    secret = host.enable_secret.reveal() if host.enable_secret else password
    startup = tuple(
        line.strip() for line in (host.data_get("lab_startup") or "").split(";") if line.strip()
    )
    return DeviceSpec(
        name=host.name,
        platform=host.platform,
        address=host.hostname,
        port=host.port,
        username=host.username,
        password=password,
        enable_secret=secret,
        clock_error_s=_float_extra(host, "lab_clock_error_s", where),
        drift_ppm=_float_extra(host, "lab_drift_ppm", where),
        faults=parse_faults(host.data_get("lab_faults") or "", where),
        startup_config=startup,
    )


# data.ntp_daemon (the Linux driver's hint) -> the kind of real lab host that runs it.
_LAB_KINDS = {
    "chrony": "chrony",
    "chronyd": "chrony",
    "ntpsec": "ntpsec",
    "ntp": "ntpsec",
    "ntpd": "ntpsec",
    "timesyncd": "timesyncd",
    "systemd-timesyncd": "timesyncd",
}


def lab_kind(host: Host, where: str) -> str:
    """The lab host kind for a Linux host: its data.ntp_daemon, chrony by default."""
    daemon = (host.data_get("ntp_daemon") or "chrony").strip().lower()
    if daemon not in _LAB_KINDS:
        raise InventoryError(
            f"{where}: data.ntp_daemon {daemon!r} is not one of {', '.join(sorted(_LAB_KINDS))}"
        )
    return _LAB_KINDS[daemon]


def spec_from_inventory(directory: Path, **lab_options: Any) -> LabSpec:
    """The lab an inventory describes. `lab_options` are LabSpec fields (poll interval...)."""
    inventory = load_inventory(directory)
    devices = []
    linux_hosts: list[Host] = []
    for host in inventory.hosts:
        where = f"{directory}/hosts.yaml: host {host.name}"
        if host.platform in SIMULATED_PLATFORMS:
            if not host.hostname.startswith("127."):
                raise InventoryError(
                    f"{where}: lab devices must live on 127.0.0.0/8, not {host.hostname}"
                )
            devices.append(device_from_host(host, where))
        elif host.platform == "linux":
            linux_hosts.append(host)
    linux = LinuxHostsSpec()
    if linux_hosts:
        by_address = sorted(linux_hosts, key=lambda h: tuple(int(x) for x in h.hostname.split(".")))
        ports = {h.port for h in linux_hosts}
        linux = LinuxHostsSpec(
            count=len(linux_hosts),
            kinds=tuple(lab_kind(h, f"{directory}/hosts.yaml: host {h.name}") for h in by_address),
            base_address=by_address[0].hostname,
            ssh_port=ports.pop() if len(ports) == 1 else None,
            names=tuple(h.name for h in by_address),
        )
    servers = {(s.address, s.port) for h in inventory.hosts for s in h.desired.servers} or {
        ("127.0.0.1", 123)
    }
    return LabSpec(
        devices=tuple(devices),
        linux=linux,
        ntp_servers=tuple(sorted(servers)),
        **lab_options,
    )


# --------------------------------------------------------------------------- writing


def _dump(path: Path, header: str, body: dict[str, Any]) -> None:
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    path.write_text(header + text)


def write_inventory(
    directory: Path,
    endpoints: list[DeviceEndpoint],
    *,
    source: Path | None = None,
    password_ref: str = "${env:ORCH_LAB_PASSWORD:-orch-lab}",
    ntp_server: tuple[str, int] = ("127.0.0.1", 123),
) -> Path:
    """Write an inventory whose hosts are `endpoints` (a running lab).

    With `source`, its groups.yaml and defaults.yaml are copied and its hosts keep their
    groups and data; otherwise a self-contained lab inventory is generated. Linux hosts
    get the user, port and key file the running pool really uses.
    """
    directory.mkdir(parents=True, exist_ok=True)
    source_hosts: dict[str, Any] = {}
    if source is not None:
        for name in ("groups.yaml", "defaults.yaml"):
            if not (source / name).is_file():
                continue
            body = yaml.safe_load((source / name).read_text())
            if name == "groups.yaml" and isinstance(body, dict):
                changed = any([_retarget(g, ntp_server) for g in body.values()])
            else:
                changed = _retarget(body, ntp_server)
            if changed:
                _dump(directory / name, f"# Written by `orch lab up` from {source / name}.\n", body)
            else:
                shutil.copyfile(source / name, directory / name)  # keeps its comments
        loaded = yaml.safe_load((source / "hosts.yaml").read_text()) or {}
        source_hosts = loaded if isinstance(loaded, dict) else {}
        for source_entry in source_hosts.values():
            _retarget(source_entry, ntp_server)
    else:
        _write_generated_defaults(directory, password_ref, ntp_server)
    group_of = {"cisco_ios": "ios", "cisco_catos": "catos", "windows": "windows", "linux": "linux"}
    hosts: dict[str, Any] = {}
    linux_src = sorted(n for n, h in source_hosts.items() if _is_linux(h))
    linux_i = 0
    for ep in endpoints:
        name = ep.name
        if ep.platform == "linux" and ep.name not in source_hosts and linux_i < len(linux_src):
            name = linux_src[linux_i]  # keep the inventory's names for the pool's hosts
            linux_i += 1
        entry: dict[str, Any] = dict(source_hosts.get(name) or {})
        entry["hostname"] = ep.address
        entry["port"] = ep.port
        entry.setdefault("groups", [group_of.get(ep.platform, ep.platform)])
        if ep.platform == "linux":
            entry["username"] = ep.username
            data = dict(entry.get("data") or {})
            data["ssh_key_file"] = ep.key_file
            entry["data"] = data
        hosts[name] = entry
    _dump(
        directory / "hosts.yaml",
        "# Written by `orch lab up`: the running lab's devices.\n",
        hosts,
    )
    return directory


def _retarget(entry: Any, ntp_server: tuple[str, int]) -> bool:
    """Point `data.ntp.servers` entries at the lab server's address to its real port.

    The lab's server may run on an ephemeral port (tests, a busy port 123); the simulated
    devices follow the lab-level port, but real chronyd hosts need `port N` pushed.
    """
    data = entry.get("data") if isinstance(entry, dict) else None
    ntp = data.get("ntp") if isinstance(data, dict) else None
    servers = ntp.get("servers") if isinstance(ntp, dict) else None
    changed = False
    for server in servers if isinstance(servers, list) else ():
        if (
            isinstance(server, dict)
            and server.get("address") == ntp_server[0]
            and server.get("port", 123) != ntp_server[1]
        ):
            server["port"] = ntp_server[1]
            changed = True
    return changed


def _is_linux(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    groups = entry.get("groups") or []
    return entry.get("platform") == "linux" or (isinstance(groups, list) and "linux" in groups)


def _write_generated_defaults(
    directory: Path, password_ref: str, ntp_server: tuple[str, int]
) -> None:
    _dump(
        directory / "defaults.yaml",
        "# Written by `orch lab up --devices N`.\n",
        {
            "port": 2222,
            "username": "admin",
            "password": password_ref,
            "data": {
                "site": "lab",
                "enable_secret": password_ref,
                "sites": {"lab": {"networks": ["127.0.0.0/8"]}},
                "ntp": {
                    "servers": [
                        {
                            "address": ntp_server[0],
                            "port": ntp_server[1],
                            "prefer": True,
                            "iburst": True,
                        }
                    ],
                    "update_calendar": True,
                    "thresholds": {"max_offset_ms": 100, "max_stratum": 15, "min_reach": 1},
                },
            },
        },
    )
    _dump(
        directory / "groups.yaml",
        "# Written by `orch lab up --devices N`.\n",
        {
            "ios": {"platform": "cisco_ios"},
            "catos": {"platform": "cisco_catos", "data": {"ntp": {"update_calendar": False}}},
            "windows": {"platform": "windows", "data": {"ntp": {"update_calendar": False}}},
            "linux": {"platform": "linux", "data": {"ntp": {"update_calendar": False}}},
        },
    )
