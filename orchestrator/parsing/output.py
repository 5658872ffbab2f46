"""The result of parsing one command's output, and its documented JSON shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.models import Association, ConfiguredNtp, NtpStatus


@dataclass(frozen=True)
class ParsedOutput:
    """One parsed output. Exactly one of associations / status / config is set."""

    platform: str
    command: str
    associations: tuple[Association, ...] | None = None
    status: NtpStatus | None = None
    config: ConfiguredNtp | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """`{"platform", "command", "associations": [...]}` or `... "status": {...}`
        (or `... "config": {...}` for running-configuration output)."""
        out: dict[str, Any] = {"platform": self.platform, "command": self.command}
        if self.associations is not None:
            out["associations"] = [asdict(a) for a in self.associations]
        if self.status is not None:
            out["status"] = asdict(self.status)
        if self.config is not None:
            out["config"] = _config_dict(self.config)
        return out


_NTS_OPTIONS = ("nts", "nts_port")


def _config_dict(config: ConfiguredNtp) -> dict[str, Any]:
    # ConfiguredNtp holds no key material (key values are never captured by the
    # templates), so asdict is safe; tuples become lists for JSON.
    data = asdict(config)
    # NTS options only where a server has them (chrony): other platforms have no NTS
    data["servers"] = [
        {k: v for k, v in s.items() if k not in _NTS_OPTIONS or v not in (False, None)}
        for s in data["servers"]
    ]
    data["trusted_keys"] = list(data["trusted_keys"])
    data["access_groups"] = list(data["access_groups"])
    return data
