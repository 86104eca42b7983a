"""Prometheus metrics of the xApp, served as text at ``/ric/v1/metrics`` (what RIC
tooling scrapes; Go xApps serve the same path):

    csi_xapp_<counter>_total            every counter of the core (served, dropped, a1_ok, ...)
    csi_xapp_cell_rows_served_total     rows served per cell and environment
    csi_xapp_cell_rows_dropped_total    rows or messages dropped per cell and reason
    csi_xapp_report_latency_seconds     a report's time from arrival to its outputs, per cell
    csi_xapp_report_nmse                the NMSE (linear) of labelled rows, per cell
    csi_xapp_active_policies            A1 policy instances in force
    csi_xapp_proxies_loaded             proxy SAMs loaded in the runtime

The per-cell series are fed by the same calls as telemetry (``record``, ``dropped``),
so they cost the hot path one histogram observation per report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "XappMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_NMSE_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
_NAME = re.compile(r"[^a-zA-Z0-9_]")


class _CountersCollector:
    """The core's named counters as Prometheus counters, read at scrape time."""

    def __init__(self, snapshot: Callable[[], Mapping[str, int]]) -> None:
        self.snapshot = snapshot

    def collect(self):
        for key, value in sorted(self.snapshot().items()):
            name = "csi_xapp_" + _NAME.sub("_", key)
            family = CounterMetricFamily(name, f"xApp counter {key}")
            family.add_metric([], value)
            yield family


class XappMetrics:
    """The xApp's registry. ``counters``: the core's counter snapshot; ``policies`` and
    ``proxies``: how many are in force and loaded, read at scrape time."""

    def __init__(
        self,
        counters: Callable[[], Mapping[str, int]],
        policies: Callable[[], int] = lambda: 0,
        proxies: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_CountersCollector(counters))
        reg = self.registry
        self.served = Counter(
            "csi_xapp_cell_rows_served", "rows served", ["cell", "env"], registry=reg
        )
        self.dropped_rows = Counter(
            "csi_xapp_cell_rows_dropped", "rows or messages dropped", ["cell", "reason"],
            registry=reg,
        )  # fmt: skip
        self.latency = Histogram(
            "csi_xapp_report_latency_seconds", "report arrival to outputs", ["cell"],
            buckets=_LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.nmse = Histogram(
            "csi_xapp_report_nmse", "NMSE (linear) of labelled rows", ["cell"],
            buckets=_NMSE_BUCKETS, registry=reg,
        )  # fmt: skip
        Gauge(
            "csi_xapp_active_policies", "A1 policy instances in force", registry=reg
        ).set_function(lambda: float(policies()))
        Gauge("csi_xapp_proxies_loaded", "proxy SAMs loaded", registry=reg).set_function(
            lambda: float(proxies())
        )

    # the telemetry observer calls --------------------------------------------------------
    def record(
        self,
        cell: str,
        env: str,
        sam_version: int | None,
        served: int,
        latency_s: float | None = None,
        nmse: list[float] | None = None,
        beam_share: float | None = None,
    ) -> None:
        self.served.labels(cell, env).inc(served)
        if latency_s is not None:
            self.latency.labels(cell).observe(latency_s)
        for v in nmse or ():
            self.nmse.labels(cell).observe(v)

    def dropped(self, cell: str, reason: str, n: int = 1) -> None:
        self.dropped_rows.labels(cell, reason).inc(n)

    def text(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)
