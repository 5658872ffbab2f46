"""Platform drivers behind one contract (drivers/base.py), looked up by platform id.

    get_driver("cisco_ios") -> Driver

Drivers are pure Python over a Session; only the transport layer (drivers/transport/)
touches SSH libraries.
A module that is not there yet (e.g. linux, being written) simply is not registered.
"""

from __future__ import annotations

import importlib
from functools import cache

from orchestrator.drivers.base import Driver
from orchestrator.errors import InputError
from orchestrator.models import NAPALM_PLATFORMS

# platform id -> (module, class name)
_DRIVERS: dict[str, tuple[str, str]] = {
    "cisco_ios": ("orchestrator.drivers.cisco_ios", "CiscoIosDriver"),
    "cisco_catos": ("orchestrator.drivers.cisco_catos", "CiscoCatosDriver"),
    "windows": ("orchestrator.drivers.windows", "WindowsDriver"),
    "linux": ("orchestrator.drivers.linux", "LinuxDriver"),
    **{p: ("orchestrator.drivers.napalm_generic", "NapalmDriver") for p in NAPALM_PLATFORMS},
}


@cache
def get_driver(platform: str) -> Driver:
    """The driver for `platform` (InputError naming the known platforms otherwise)."""
    target = _DRIVERS.get(platform)
    if target is None:
        raise InputError(
            f"no driver for platform {platform!r} (known: {', '.join(sorted(_DRIVERS))})"
        )
    module_name, class_name = target
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise InputError(f"the {platform} driver is not available in this build") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InputError(f"{module_name} defines no {class_name}")
    driver: Driver = cls(platform) if class_name == "NapalmDriver" else cls()
    return driver


def platforms() -> tuple[str, ...]:
    return tuple(_DRIVERS)


__all__ = ["get_driver", "platforms"]
