"""napalm sessions: the candidate-config workflow of the platforms napalm covers
(eos, junos, nxos, iosxr), behind a CandidateSession."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.drivers.base import CommandResult
from orchestrator.drivers.transport.errors import device_errors, scrub, where
from orchestrator.errors import CommandRejected, ConnectionFailure, InputError
from orchestrator.models import NAPALM_PLATFORMS, Host


class NapalmSession:
    """napalm's candidate-config workflow for the platforms it already covers."""

    def __init__(self, host: Host, device: Any, timeout_s: float) -> None:
        self.host = host
        self._device = device
        self._timeout_s = timeout_s

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        with device_errors(self.host, f"running {command!r}"):
            out = self._device.cli([command])
        return CommandResult(command, str(out.get(command, "")))

    def configure(self, lines: Sequence[str]) -> str:
        diff = self.merge_candidate("\n".join(lines) + "\n")
        self.commit()
        return diff

    def save(self) -> str:
        return ""  # commit persists

    def get_ntp_servers(self) -> Mapping[str, Mapping[str, object]]:
        with device_errors(self.host, "get_ntp_servers"):
            servers = self._device.get_ntp_servers()
        return {str(k): dict(v) for k, v in servers.items()}

    def get_ntp_stats(self) -> object:
        with device_errors(self.host, "get_ntp_stats"):
            stats: object = self._device.get_ntp_stats()
        return stats

    def running_config(self) -> str:
        with device_errors(self.host, "get_config"):
            config = self._device.get_config(retrieve="running")
        return str(config.get("running", ""))

    def merge_candidate(self, config: str) -> str:
        with device_errors(self.host, "load_merge_candidate"):
            try:
                self._device.load_merge_candidate(config=config)
            except Exception as exc:
                if type(exc).__name__ in {"MergeConfigException", "ReplaceConfigException"}:
                    raise CommandRejected(
                        f"{where(self.host)}: candidate rejected: {str(exc).splitlines()[0]}",
                        command=config.strip(),
                    ) from None
                raise
            diff = self._device.compare_config()
        return str(diff or "")

    def commit(self) -> None:
        with device_errors(self.host, "commit_config"):
            self._device.commit_config()

    def discard(self) -> None:
        with device_errors(self.host, "discard_config"):
            self._device.discard_config()

    def rollback(self) -> None:
        with device_errors(self.host, "rollback"):
            self._device.rollback()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._device.close()

    def __enter__(self) -> NapalmSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _napalm_driver_name(host: Host) -> str:
    name = host.data_get("napalm_driver") or host.platform.removeprefix("napalm_")
    if name not in NAPALM_PLATFORMS and name != "mock":
        raise InputError(
            f"{host.name}: no napalm driver for platform {host.platform!r} "
            f"(use one of {', '.join(NAPALM_PLATFORMS)})"
        )
    return name


def open_napalm(host: Host, timeout_s: float) -> NapalmSession:
    from napalm import get_network_driver  # heavy import: only when a napalm host exists

    name = _napalm_driver_name(host)
    optional: dict[str, Any] = {"port": host.port}
    if name == "mock":
        optional = {"path": host.data_get("napalm_mock_path", ""), "profile": ["mock"]}
    device = get_network_driver(name)(
        hostname=host.hostname,
        username=host.username,
        password=host.password.reveal() if host.password else "",
        timeout=int(timeout_s),
        optional_args=optional,
    )
    with device_errors(host, "connect"):
        try:
            device.open()
        except Exception as exc:
            if type(exc).__name__ == "ConnectionException":
                raise ConnectionFailure(
                    scrub(f"{where(host)}: connect: {str(exc).splitlines()[0]}", host)
                ) from None
            raise
    return NapalmSession(host, device, timeout_s)
