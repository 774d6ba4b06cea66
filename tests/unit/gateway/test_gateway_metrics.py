"""The request path's counters and histograms (gateway/metrics.py HotCounter, HotHistogram) expose exactly
what prometheus_client's Counter and Histogram expose for the same observations (less `_created`)."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.metrics import GatewayMetrics, HotCounter, HotHistogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _exposed(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_hot_histogram_exposes_what_a_prometheus_histogram_does() -> None:
    reference, hot = CollectorRegistry(), CollectorRegistry()
    expected = Histogram("xt_seconds", "Latency.", ["kind"], buckets=BUCKETS, registry=reference)
    actual = HotHistogram("xt_seconds", "Latency.", ["kind"], buckets=BUCKETS, registry=hot)
    rng = random.Random(7)
    # bucket bounds exactly (a value equal to a bound counts in that bucket), beyond the last, zero, random
    values = [*BUCKETS, 0.0, 11.0, 1e9, *(rng.uniform(0, 12) for _ in range(500)), *(rng.expovariate(500) for _ in range(500))]
    for i, value in enumerate(values):
        kind = ("follow_up", "statement", "other")[i % 3]
        expected.labels(kind).observe(value)
        actual.labels(kind).observe(value)
    assert _exposed(hot) == _exposed(reference)
    assert hot.get_sample_value("xt_seconds_count", {"kind": "other"}) == len(values) // 3


def test_hot_counter_exposes_what_a_prometheus_counter_does() -> None:
    reference, hot = CollectorRegistry(), CollectorRegistry()
    expected = Counter("xt_requests_total", "Requests.", ["route", "status"], registry=reference)
    actual = HotCounter("xt_requests_total", "Requests.", ["route", "status"], registry=hot)
    for route, status, times in (("a/b", 200, 3), ("a/b", 404, 1), ("-", 400, 2)):
        for _ in range(times):
            expected.labels(route, status).inc()
            actual.labels(route, status).inc()
    expected.labels("a/b", 200).inc(2.5)
    actual.labels("a/b", 200).inc(2.5)
    assert _exposed(hot) == _exposed(reference)
    empty_reference, empty_hot = CollectorRegistry(), CollectorRegistry()
    Counter("xt_unused_total", "Nothing yet.", ["reason"], registry=empty_reference)
    HotCounter("xt_unused_total", "Nothing yet.", ["reason"], registry=empty_hot)
    assert _exposed(empty_hot) == _exposed(empty_reference)


def test_hot_metrics_refuse_a_wrong_number_of_labels() -> None:
    counter = HotCounter("xt_total", "x", ["a", "b"], registry=CollectorRegistry())
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("only-one")


def test_gateway_metrics_count_requests_and_latency_on_scrape() -> None:
    metrics = GatewayMetrics()
    metrics.observe_request("team/etl", "follow_up", 200, 0.002)
    metrics.observe_request("team/etl", "follow_up", 200, 0.2)
    metrics.observe_request("-", "refused", 400, None)
    metrics.observe_upstream("follow_up", 0.001)
    metrics.sticky_hits.labels("local").inc()
    page = metrics.render().decode()
    assert 'xtrinode_gateway_requests_total{kind="follow_up",route="team/etl",status="200"} 2.0' in page
    assert 'xtrinode_gateway_requests_total{kind="refused",route="-",status="400"} 1.0' in page
    assert 'xtrinode_gateway_request_duration_seconds_bucket{kind="follow_up",le="0.0025"} 1.0' in page
    assert 'xtrinode_gateway_request_duration_seconds_count{kind="follow_up"} 2.0' in page
    assert 'xtrinode_gateway_upstream_duration_seconds_bucket{kind="follow_up",le="0.001"} 1.0' in page
    assert 'xtrinode_gateway_sticky_hits_total{source="local"} 1.0' in page
