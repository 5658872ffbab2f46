"""Prometheus `/metrics` for `orch server run --metrics-listen ADDR:PORT`.

The counters come from the stats the server already keeps: every worker adds its
counter deltas to the client log store every `flush_interval_s` (so the sum over
all worker processes is there), and the runner holds the current reference state.
A scrape reads both; nothing on the packet path changes. Exposition and HTTP are
prometheus-client's; names follow the Prometheus conventions (base units, `_total`
counters) and pass `promtool check metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.errors import ConfigError, ServerError
from orchestrator.ntp.server import SystemState
from orchestrator.serve.clientlog_store import read_status

_DROPPED = "dropped-"
_KOD = {"kod-rate": "RATE", "kod-deny": "DENY"}


class Counters(Protocol):
    def __call__(self) -> tuple[Mapping[str, int], int | None]:
        """(counter name -> value, clients seen or None when unknown)."""
        ...


def store_counters(path: Path) -> Counters:
    """The counters and clients as the workers last flushed them to the client log."""

    def read() -> tuple[Mapping[str, int], int | None]:
        status = read_status(path)
        return status.counters, len(status.clients)

    return read


class ServerCollector(Collector):
    """One scrape: the server counters and the reference state, read at that moment."""

    def __init__(
        self,
        counters: Counters,
        state: Callable[[], SystemState | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._counters = counters
        self._state = state
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        try:
            values, clients = self._counters()
        except ServerError:
            values, clients = {}, None  # the store is busy or gone: expose what we know
        yield from self._requests(values)
        if clients is not None:
            yield GaugeMetricFamily(
                "orch_server_clients_seen",
                "Distinct client addresses in the server's client log.",
                value=clients,
            )
        yield from self._reference(self._state())

    @staticmethod
    def _requests(values: Mapping[str, int]) -> Iterator[Metric]:
        def counter(name: str, help_text: str, key: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, help_text, value=values.get(key, 0))

        yield counter(
            "orch_server_requests_received", "NTP datagrams received by the server.", "received"
        )
        yield counter(
            "orch_server_requests_answered",
            "Requests answered with a time reply (KoD packets not included).",
            "answered",
        )
        dropped = CounterMetricFamily(
            "orch_server_requests_dropped",
            "Requests dropped without a time reply, by reason.",
            labels=["reason"],
        )
        for key in sorted(values):
            if key.startswith(_DROPPED):
                dropped.add_metric([key[len(_DROPPED) :]], values[key])
        yield dropped
        kod = CounterMetricFamily(
            "orch_server_kod_sent", "Kiss-o'-Death packets sent, by code.", labels=["code"]
        )
        for key, code in _KOD.items():
            kod.add_metric([code], values.get(key, 0))
        yield kod
        yield counter(
            "orch_server_requests_authenticated",
            "Requests with a valid MAC (answered with a MAC of the same key).",
            "authenticated",
        )
        yield counter(
            "orch_server_send_errors", "Replies the kernel refused to send.", "send-errors"
        )

    def _reference(self, state: SystemState | None) -> Iterator[Metric]:
        if state is None:
            return
        yield GaugeMetricFamily(
            "orch_server_synchronised",
            "1 while the server's reference is synchronised (LI != 3, stratum 1-15), else 0.",
            value=1.0 if state.synchronised else 0.0,
        )
        yield GaugeMetricFamily(
            "orch_server_stratum",
            "Stratum the server announces (16: unsynchronised, sent as 0).",
            value=state.stratum,
        )
        now_ns = int(self._clock() * 1e9)
        yield GaugeMetricFamily(
            "orch_server_root_dispersion_seconds",
            "Root dispersion the server would send now (grows 15 ppm from the last update).",
            value=state.root_dispersion_at(now_ns),
        )
        yield GaugeMetricFamily(
            "orch_server_root_delay_seconds",
            "Root delay to the primary reference.",
            value=state.root_delay_s,
        )
        if state.ref_time_ns:
            yield GaugeMetricFamily(
                "orch_server_reference_update_age_seconds",
                "Seconds since the reference was last updated.",
                value=max(0.0, (now_ns - state.ref_time_ns) / 1e9),
            )


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9123', '[::1]:9123' -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"--metrics-listen {text!r}: expected ADDRESS:PORT", hint="e.g. 127.0.0.1:9123"
        )
    return host, int(port)


class MetricsServer:
    """The HTTP endpoint in a daemon thread of the server's main process."""

    def __init__(self, listen: str, collector: ServerCollector) -> None:
        host, port = parse_listen(listen)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ServerError(
                f"--metrics-listen {listen}: cannot listen there ({exc.strerror or exc})",
                hint="choose a free port, or an address of this machine",
            ) from None
        self.address: tuple[str, int] = (host, int(self._server.server_address[1]))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
