"""node_exporter textfile-collector format of the latest run.

Write it to `<collector dir>/orch_ntp.prom` (atomically: the CLI writes a temp file
and renames it) and node_exporter exposes the gauges.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.models import Verdict
from orchestrator.reports.data import ReportInput


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    # Full precision: `:g` would turn a Unix timestamp into 1.8e+09.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _metric(name: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def render_prometheus(data: ReportInput) -> str:
    run = data.latest
    devs = run.devices
    ident = [(d, _labels(host=d.host, site=d.site, platform=d.platform)) for d in devs]
    lines: list[str] = []
    lines += _metric(
        "orch_ntp_compliant",
        "1 if the device complies with the site NTP policy, else 0.",
        ((lbl, 1.0 if d.complies else 0.0) for d, lbl in ident),
    )
    lines += _metric(
        "orch_ntp_verdict",
        "The device's verdict (1 for the verdict it has).",
        (
            (_labels(host=d.host, site=d.site, verdict=v.value), 1.0 if d.verdict is v else 0.0)
            for d in devs
            for v in Verdict
        ),
    )
    lines += _metric(
        "orch_ntp_offset_ms",
        "Clock offset to the sync peer in milliseconds, as the device reports it.",
        ((lbl, d.offset_ms) for d, lbl in ident if d.offset_ms is not None),
    )
    lines += _metric(
        "orch_ntp_stratum",
        "The device's own stratum.",
        ((lbl, float(d.stratum)) for d, lbl in ident if d.stratum is not None),
    )
    lines += _metric(
        "orch_ntp_reach",
        "Reach register of the sync peer (8-bit, decimal value of the octal register).",
        ((lbl, float(d.reach)) for d, lbl in ident if d.reach is not None),
    )
    lines += _metric(
        "orch_ntp_devices",
        "Devices per verdict in the last run.",
        ((_labels(verdict=v), float(n)) for v, n in run.counts.items()),
    )
    lines += _metric(
        "orch_ntp_unknown_clients",
        "Clients polling our server that are not in the inventory.",
        [("", float(len(run.unknown_clients)))],
    )
    lines += _metric(
        "orch_last_run_timestamp_seconds",
        "Unix time the last verify run started.",
        [("", run.started_at)],
    )
    return "\n".join(lines) + "\n"
