"""node_exporter textfile-collector format of the latest run.

Write it to `<collector dir>/orch_ntp.prom` (atomically: the CLI writes a temp file
and renames it) and node_exporter exposes the gauges. Names follow the Prometheus
conventions (base units: seconds; `promtool check metrics` passes on the output);
the text is produced by prometheus-client's own exposition code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orchestrator.models import Verdict
from orchestrator.reports.data import ReportInput, not_measured

_IDENT = ("host", "site", "platform")


def _gauge(
    name: str, help_text: str, labels: Iterable[str], samples: Iterable[tuple[list[str], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=list(labels))
    for values, value in samples:
        family.add_metric(values, value)
    return family


class _RunCollector(Collector):
    def __init__(self, data: ReportInput) -> None:
        self.data = data

    def collect(self) -> Iterator[GaugeMetricFamily]:
        run = self.data.latest
        devs = run.devices
        ident = [(d, [d.host, d.site, d.platform]) for d in devs]
        yield _gauge(
            "orch_ntp_compliant",
            "1 if the device complies with the site NTP policy, else 0.",
            _IDENT,
            ((lbl, 1.0 if d.complies else 0.0) for d, lbl in ident),
        )
        yield _gauge(
            "orch_ntp_verdict",
            "The device's verdict (1 for the verdict it has).",
            ("host", "site", "verdict"),
            (
                ([d.host, d.site, v.value], 1.0 if d.verdict is v else 0.0)
                for d in devs
                for v in Verdict
            ),
        )
        yield _gauge(
            "orch_ntp_offset_seconds",
            "Clock offset to the sync peer in seconds, as the device reports it "
            "(absent where the platform does not measure it).",
            _IDENT,
            ((lbl, d.offset_ms / 1000.0) for d, lbl in ident if d.offset_ms is not None),
        )
        yield _gauge(
            "orch_ntp_stratum",
            "The device's own stratum.",
            _IDENT,
            ((lbl, float(d.stratum)) for d, lbl in ident if d.stratum is not None),
        )
        yield _gauge(
            "orch_ntp_reach",
            "Reach register of the sync peer, as a number (devices print it in octal: 255 is 377).",
            _IDENT,
            ((lbl, float(d.reach)) for d, lbl in ident if d.reach is not None),
        )
        yield _gauge(
            "orch_ntp_checks_not_measured",
            "Checks the device's platform cannot measure (neither passed nor failed).",
            _IDENT,
            ((lbl, float(len(not_measured(d)))) for d, lbl in ident),
        )
        yield _gauge(
            "orch_ntp_devices",
            "Devices per verdict in the last run.",
            ("verdict",),
            (([v], float(n)) for v, n in run.counts.items()),
        )
        yield _gauge(
            "orch_ntp_unknown_clients",
            "Clients polling our server that are not in the inventory.",
            (),
            [([], float(len(run.unknown_clients)))],
        )
        yield _gauge(
            "orch_last_run_timestamp_seconds",
            "Unix time the last verify run started.",
            (),
            [([], run.started_at)],
        )


def render_prometheus(data: ReportInput) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunCollector(data))
    return generate_latest(registry).decode("utf-8")
