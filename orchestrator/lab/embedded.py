"""A whole lab inside the calling process, for `orch demo` and tests.

    with EmbeddedLab(LabOptions(inventory=Path("inventories/lab")), state_dir) as lab:
        lab.inventory      # inventory directory whose hosts point at the running lab
        lab.endpoints      # list[DeviceEndpoint]
        lab.linux_note     # "Linux hosts: 2 started" or why not
        ...

The simulated devices run in a background thread with their own event loop; the real
Linux hosts (when asked for and possible) are started from the calling thread, which
must outlive the lab (their parent-death signal is tied to it): use the main thread.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.lab.daemon import INVENTORY_DIR, LabOptions, build_spec
from orchestrator.lab.inventory import write_inventory
from orchestrator.lab.runtime import DeviceEndpoint, Lab


class EmbeddedLab:
    def __init__(self, options: LabOptions, state_dir: Path) -> None:
        self.options = options
        self.state_dir = state_dir
        self.lab: Lab | None = None
        self.endpoints: list[DeviceEndpoint] = []
        self.inventory: Path = state_dir / INVENTORY_DIR
        self.linux_note = ""

    def start(self) -> EmbeddedLab:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lab = Lab(build_spec(self.options, self.state_dir))
        lab.start()
        self.lab = lab
        try:
            lab.start_linux(self.state_dir)
            self.endpoints = lab.endpoints()
            self.linux_note = lab.linux_note
            write_inventory(
                self.inventory,
                self.endpoints,
                source=self.options.inventory,
                ntp_server=("127.0.0.1", self.options.ntp_port),
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        lab, self.lab = self.lab, None
        if lab is not None:
            lab.stop()

    def __enter__(self) -> EmbeddedLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
