"""The lab: simulated Cisco IOS, CatOS and Windows devices (plus real Linux hosts).

Imported only by cli/ (`orch lab`, `orch demo`) and tests.

    from orchestrator.lab import Lab, LabSpec, DeviceSpec, Faults
    lab = Lab(LabSpec(devices=(DeviceSpec("r1", "cisco_ios", "127.0.1.1", port=2222),)))
    endpoints = lab.start()   # list[DeviceEndpoint]
    ...
    lab.stop()
"""

from orchestrator.lab.runtime import DeviceEndpoint, Lab
from orchestrator.lab.spec import (
    DeviceSpec,
    Faults,
    LabSpec,
    LinuxHostsSpec,
    generated_devices,
    lab_address,
)

__all__ = [
    "DeviceEndpoint",
    "DeviceSpec",
    "Faults",
    "Lab",
    "LabSpec",
    "LinuxHostsSpec",
    "generated_devices",
    "lab_address",
]
