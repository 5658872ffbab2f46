"""The lab: simulated Cisco IOS, CatOS and Windows devices (plus real Linux hosts).

Imported only by cli/ (`orch lab`, `orch demo`) and tests.

    from orchestrator.lab import Lab, LabSpec, DeviceSpec, Faults
    lab = Lab(LabSpec(devices=(DeviceSpec("r1", "cisco_ios", "127.0.1.1", port=2222),)))
    endpoints = lab.start()   # list[DeviceEndpoint]; port 0 in a spec = an ephemeral port
    lab.start_linux(state_dir)   # optional, from the main thread: real Linux hosts
    ...
    lab.stop()

    # or, for `orch demo`: a lab from an inventory (or --devices N) with its inventory
    with EmbeddedLab(LabOptions(inventory=Path("inventories/lab")), state_dir) as lab:
        lab.inventory, lab.endpoints, lab.linux_note

Modules: spec (what a lab is), inventory (lab specs from inventories and back), runtime
(Lab: one asyncio loop serving every device), ssh (asyncssh front end), device / ios /
ios_configure / ios_config / catos / windows (the platforms), ntp_runtime (UDP around
orchestrator.ntp.client), formats (real output layouts), daemon (the `orch lab up`
process), embedded (the same, in-process), linux_hosts (real Linux hosts: chrony in
namespaces; NTPsec, timesyncd and RHEL-style chrony under systemd via linux_containers).
"""

from orchestrator.lab.daemon import LabOptions
from orchestrator.lab.embedded import EmbeddedLab
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
    "EmbeddedLab",
    "Faults",
    "Lab",
    "LabOptions",
    "LabSpec",
    "LinuxHostsSpec",
    "generated_devices",
    "lab_address",
]
