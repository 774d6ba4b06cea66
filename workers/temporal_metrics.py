"""The Temporal SDK's own metrics on the process's one `/metrics`: a Temporal `Runtime` whose core records
into a `MetricBuffer`, and a Prometheus collector that drains it (on every scrape and every second in the
background, so the buffer never fills) into cumulative counters, last-value gauges and histograms.

`xtrinode worker` and `xtrinode operator` connect their client with `TemporalSdkMetrics.runtime` and
register the collector in the default registry that `workers/health.py` serves. Names are the core's
(`temporal_request`, `temporal_workflow_task_execution_latency`, ...); durations are in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

__all__ = ["TemporalSdkMetrics"]

_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(_BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(_BUCKETS):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1


@dataclass
class _Family:
    kind: int
    description: str
    values: dict[Labels, float] = field(default_factory=dict)
    histograms: dict[Labels, _Histogram] = field(default_factory=dict)


def _labels(attributes: Mapping[str, object]) -> Labels:
    return tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


class TemporalSdkMetrics(Collector):
    """`runtime` for `connect_client(..., runtime=...)`; register the object itself in a Prometheus registry."""

    def __init__(self, buffer_size: int = 100_000) -> None:
        self._buffer = MetricBuffer(buffer_size, MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self._buffer))
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def drain(self) -> None:
        """Fold the buffered updates into the cumulative state (counters add deltas, gauges keep the last)."""
        with self._lock:
            for update in self._buffer.retrieve_updates():
                metric = update.metric
                family = self._families.get(metric.name)
                if family is None:
                    family = self._families[metric.name] = _Family(int(metric.kind), metric.description or metric.name)
                key = _labels(update.attributes)
                if family.kind == int(BUFFERED_METRIC_KIND_HISTOGRAM):
                    family.histograms.setdefault(key, _Histogram()).observe(float(update.value))
                elif family.kind == int(BUFFERED_METRIC_KIND_COUNTER):
                    family.values[key] = family.values.get(key, 0.0) + float(update.value)
                else:
                    family.values[key] = float(update.value)

    def collect(self) -> Iterator[Metric]:
        self.drain()
        with self._lock:
            for name, family in sorted(self._families.items()):
                if family.kind == int(BUFFERED_METRIC_KIND_HISTOGRAM):
                    metric = Metric(name, family.description, "histogram")
                    for key, hist in family.histograms.items():
                        labels = dict(key)
                        for bound, count in zip(_BUCKETS, hist.counts):
                            metric.add_sample(f"{name}_bucket", {**labels, "le": repr(bound)}, count)
                        metric.add_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, hist.count)
                        metric.add_sample(f"{name}_count", labels, hist.count)
                        metric.add_sample(f"{name}_sum", labels, hist.total)
                elif family.kind == int(BUFFERED_METRIC_KIND_COUNTER):
                    metric = Metric(name, family.description, "counter")
                    for key, value in family.values.items():
                        metric.add_sample(f"{name}_total", dict(key), value)
                else:
                    metric = Metric(name, family.description, "gauge")
                    for key, value in family.values.items():
                        metric.add_sample(name, dict(key), value)
                yield metric

    @contextlib.asynccontextmanager
    async def draining(self, interval: float = 1.0) -> AsyncIterator[TemporalSdkMetrics]:
        """`async with metrics.draining():` empties the buffer every `interval` seconds until the block ends."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                self.drain()

        task = asyncio.create_task(loop(), name="temporal-metrics-drain")
        try:
            yield self
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
