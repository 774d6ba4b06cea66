"""The gateway's Prometheus metrics, one registry per app (no process-global collectors).

`GatewayMetrics` owns every SPEC section 4 metric; `render()` serves them on `/metrics`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics", "HotCounter", "HotHistogram"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RESUME_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class _Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Observed:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bucket whose bound is >= amount
        self.total += amount


_Child = TypeVar("_Child", _Count, _Observed)


class _Labelled(Collector, Generic[_Child]):
    """A metric family with one child per label values, read by the registry when scraped."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labelnames)
        self._children: dict[tuple[str, ...], _Child] = {}
        registry.register(self)

    def labels(self, *values: object) -> _Child:
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {len(key)} values")
            child = self._children[key] = self._new()
        return child

    def _new(self) -> _Child:
        raise NotImplementedError


class HotCounter(_Labelled[_Count]):
    """A labelled counter for the request path: `labels(...).inc()` adds to a float (prometheus_client's
    Counter takes a lock and checks per increment); the registry reads it when scraped."""

    def _new(self) -> _Count:
        return _Count()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(list(key), child.value)
        yield family


class HotHistogram(_Labelled[_Observed]):
    """A labelled histogram for the request path: `labels(...).observe(x)` counts into its bucket by bisection;
    cumulative buckets, sum and count are formed when scraped (same series as prometheus_client's Histogram,
    without `_created`)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, registry)

    def _new(self) -> _Observed:
        return _Observed(self.bounds)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), child.counts, strict=True):
                cumulative += count
                buckets.append((str(floatToGoString(bound)), cumulative))  # type: ignore[no-untyped-call]
            family.add_metric(list(key), buckets, child.total)
        yield family


class GatewayMetrics:
    """All gateway metrics; label values are route keys and short reasons, never user input verbatim."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.inflight = Gauge(
            "xtrinode_gateway_inflight_queries",
            "Queries this replica tracks per runtime: state=running (forwarded) or held (waiting for resume).",
            ["namespace", "xtrinode", "routing_group", "state"],
            registry=r,
        )
        self.requests = HotCounter(
            "xtrinode_gateway_requests",
            "Requests handled, by route (namespace/name or a gateway endpoint), kind and HTTP status.",
            ["route", "kind", "status"],
            registry=r,
        )
        self.request_seconds = HotHistogram(
            "xtrinode_gateway_request_duration_seconds",
            "Time to the response headers of a proxied request, by kind.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_seconds = HotHistogram(
            "xtrinode_gateway_upstream_duration_seconds",
            "Time from sending a request to a backend until its response headers, by kind.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.resume_requests = Counter(
            "xtrinode_gateway_resume_requests_total",
            "Resume updates sent to runtime workflows, by runtime and outcome.",
            ["namespace", "xtrinode", "outcome"],
            registry=r,
        )
        self.resume_seconds = Histogram(
            "xtrinode_gateway_resume_duration_seconds",
            "Time a resume update took, by outcome.",
            ["outcome"],
            buckets=_RESUME_BUCKETS,
            registry=r,
        )
        self.held_statements = Counter(
            "xtrinode_gateway_held_statements_total",
            "Statements held while their runtime resumed, by how they ended.",
            ["namespace", "xtrinode", "outcome"],
            registry=r,
        )
        self.rate_limited = Counter(
            "xtrinode_gateway_rate_limited_total",
            "Statements refused with 429, by limit scope.",
            ["scope"],
            registry=r,
        )
        self.auth_failed = Counter(
            "xtrinode_gateway_auth_failed_total",
            "Requests refused with 401, by reason.",
            ["reason"],
            registry=r,
        )
        self.backend_healthy = Gauge(
            "xtrinode_gateway_backend_healthy",
            "1 when the last /v1/info probe of a backend said ready, else 0.",
            ["backend"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "xtrinode_gateway_backend_breaker_open",
            "1 while a backend's circuit breaker refuses new queries.",
            ["backend"],
            registry=r,
        )
        self.redis_fallbacks = Counter(
            "xtrinode_gateway_redis_fallbacks_total",
            "Redis operations that failed and fell back to local state, by operation.",
            ["operation"],
            registry=r,
        )
        self.route_table_errors = Counter(
            "xtrinode_gateway_route_table_errors_total",
            "Route table writes rejected (the last good table stays), by reason.",
            ["reason"],
            registry=r,
        )
        self.route_table_loaded = Gauge(
            "xtrinode_gateway_route_table_routes",
            "Routes in the table in use.",
            registry=r,
        )
        self.sticky_hits = HotCounter(
            "xtrinode_gateway_sticky_hits_total",
            "Follow-up requests whose backend was found, by where: local LRU, redis, or coordinator id.",
            ["source"],
            registry=r,
        )
        self.sticky_misses = Counter(
            "xtrinode_gateway_sticky_misses_total",
            "Follow-up requests whose query has no live mapping, by reason.",
            ["reason"],
            registry=r,
        )

        self._request_children: dict[tuple[str, str, int], _Count] = {}
        self._latency_children: dict[tuple[str, str], _Observed] = {}

    def observe_request(self, route: str, kind: str, status: int, seconds: float | None) -> None:
        """Count a handled request and (unless None) its latency; labelled children are cached (hot path)."""
        key = (route, kind, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(*key)
        counter.value += 1
        if seconds is not None:
            self._latency(self.request_seconds, kind).observe(seconds)

    def observe_upstream(self, kind: str, seconds: float) -> None:
        self._latency(self.upstream_seconds, kind).observe(seconds)

    def _latency(self, histogram: HotHistogram, kind: str) -> _Observed:
        child = self._latency_children.get((histogram.name, kind))
        if child is None:
            child = self._latency_children[(histogram.name, kind)] = histogram.labels(kind)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
