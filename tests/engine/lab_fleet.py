"""The simulated lab fleet the push tests run against.

Every address here is loopback: the simulated devices really send NTP packets to the
servers in their configuration.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace

from orchestrator.lab.runtime import DeviceEndpoint
from orchestrator.lab.spec import DeviceSpec, Faults
from orchestrator.models import DesiredNtp, Host, NtpKey, NtpServerSpec, Secret

IOS_STALE = ("ntp server 127.0.0.77",)


def stale(prefix: str, count: int) -> tuple[str, ...]:
    """`count` stale server lines (127.0.0.100 up), `prefix` the platform's command."""
    return tuple(f"{prefix} 127.0.0.{100 + i}" for i in range(count))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_devices(port: int) -> tuple[DeviceSpec, ...]:
    def d(name: str, platform: str, n: int, **kw: object) -> DeviceSpec:
        return DeviceSpec(name, platform, f"127.0.1.{200 + n}", port=port, **kw)  # type: ignore[arg-type]

    return (
        d("ios-ok", "cisco_ios", 1, startup_config=IOS_STALE),
        d("ios-nocal", "cisco_ios", 2, faults=Faults(no_calendar=True)),
        d("ios-acl", "cisco_ios", 3, faults=Faults(access_group_block=True)),
        d("ios-badpw", "cisco_ios", 4, faults=Faults(wrong_password=True)),
        d(
            "ios-reject",
            "cisco_ios",
            5,
            startup_config=IOS_STALE,
            faults=Faults(reject_commands=("ntp server 127.0.0.10",)),
        ),
        d(
            "ios-drop",
            "cisco_ios",
            6,
            startup_config=IOS_STALE,
            faults=Faults(drop_on_command="ntp server 127.0.0.10"),
        ),
        d("ios-slow", "cisco_ios", 7, faults=Faults(slow_response_s=2.0)),
        d("ios-dry", "cisco_ios", 8, startup_config=IOS_STALE),
        d("ios-cli", "cisco_ios", 12, startup_config=IOS_STALE),
        d(
            "ios-rejkey",
            "cisco_ios",
            9,
            startup_config=IOS_STALE,
            faults=Faults(reject_commands=("ntp authentication-key",)),
        ),
        d("cat-ok", "cisco_catos", 10, startup_config=("set ntp server 127.0.0.77",)),
        d(
            "cat-reject",
            "cisco_catos",
            11,
            startup_config=("set ntp server 127.0.0.77",),
            faults=Faults(reject_commands=("set ntp client",)),
        ),
        d("win-ok", "windows", 20),
        d("win-gpo", "windows", 21, faults=Faults(domain_policy=True)),
        d("win-drop", "windows", 22, faults=Faults(drop_on_command="w32tm /config")),
        # Slow devices with many stale servers: time limits, locks, restores.
        d(
            "ios-slow20",
            "cisco_ios",
            30,
            startup_config=stale("ntp server", 20),
            faults=Faults(slow_response_s=0.1),
        ),
        d("ios-lock", "cisco_ios", 31, startup_config=stale("ntp server", 4)),
        d(
            "ios-rst",
            "cisco_ios",
            32,
            startup_config=(*stale("ntp server", 3), "ntp source Loopback0"),
        ),
        d("cat-rst", "cisco_catos", 33, startup_config=stale("set ntp server", 3)),
        d("win-rst", "windows", 34),
        d(
            "cat-rot",
            "cisco_catos",
            52,
            startup_config=(
                "set ntp key 7 trusted md5 old-Value-1",
                "set ntp server 127.0.0.10 key 7",
                "set ntp server 127.0.0.11",
                "set ntp client enable",
                "set ntp authentication enable",
            ),
        ),
        *signal_devices(d),
    )


# Slow devices with many stale servers, one set per signal test (a test leaves its set
# changed or restored): `prefix-ios-1`, `prefix-cat-1`, `prefix-win-1`, ...
SIGNAL_SETS = {"sigint": 35, "sigterm": 42, "force": 49}
SIGNAL_KINDS = (("ios", "cisco_ios"), ("cat", "cisco_catos"), ("win", "windows"))


def signal_set(prefix: str) -> list[str]:
    count = 3 if prefix == "force" else 7
    return [f"{prefix}-{SIGNAL_KINDS[i % 3][0]}-{i // 3 + 1}" for i in range(count)]


def signal_devices(d: Callable[..., DeviceSpec]) -> list[DeviceSpec]:
    devices = []
    for prefix, first in SIGNAL_SETS.items():
        stale_count = 20 if prefix == "force" else 10
        for i, name in enumerate(signal_set(prefix)):
            platform = SIGNAL_KINDS[i % 3][1]
            command = {"cisco_ios": "ntp server", "cisco_catos": "set ntp server"}
            startup = stale(command[platform], stale_count) if platform in command else ()
            if platform == "cisco_ios":
                startup = (*startup, "ntp source Loopback0")
            devices.append(
                d(
                    name,
                    platform,
                    first + i,
                    startup_config=startup,
                    faults=Faults(slow_response_s=0.1),
                )
            )
    return devices


def desired_for(platform: str) -> DesiredNtp:
    """One server on Windows (w32tm), keys where the platform has them."""
    if platform == "windows":
        return DesiredNtp((NtpServerSpec("127.0.0.10"),), update_calendar=False)
    key = NtpKey(7, "md5", Secret("k3y-Value-7"))
    return DesiredNtp(
        (NtpServerSpec("127.0.0.10", key_id=7, prefer=True), NtpServerSpec("127.0.0.11")),
        keys=(key,),
        authenticate=True,
        update_calendar=platform == "cisco_ios",
    )


def host_of(ep: DeviceEndpoint, **changes: object) -> Host:
    host = ep.as_host(desired_for(ep.platform), groups=(ep.platform,))
    return replace(host, **changes)  # type: ignore[arg-type]
