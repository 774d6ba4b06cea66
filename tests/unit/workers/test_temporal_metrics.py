"""`TemporalSdkMetrics`: what the Temporal core records into its buffer reaches a Prometheus registry.

Checks (a real core runtime, its own metric meter, no server): counters add their deltas, gauges keep the
last value, histograms count observations into cumulative buckets with sum and count, labels carry the
attributes; a scrape drains the buffer, and a second scrape shows the same totals (cumulative state).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from tests.metrics_catalog import Scraped
from workers.temporal_metrics import TemporalSdkMetrics


def test_core_metrics_reach_the_registry_as_cumulative_families() -> None:
    metrics = TemporalSdkMetrics()
    registry = CollectorRegistry()
    registry.register(metrics)
    meter = metrics.runtime.metric_meter
    counter = meter.create_counter("xt_unit_counter", "a counter")
    counter.add(3, {"operation": "Poll"})
    counter.add(2, {"operation": "Poll"})
    gauge = meter.create_gauge("xt_unit_gauge", "a gauge")
    gauge.set(5, {})
    gauge.set(4, {})
    histogram = meter.create_histogram_float("xt_unit_seconds", "a histogram", "s")
    histogram.record(0.3, {})
    histogram.record(7.0, {})

    for _ in range(2):
        page = Scraped.parse(generate_latest(registry).decode())
        assert page.families["xt_unit_counter"][0] == "counter"
        assert page.value("xt_unit_counter_total", operation="Poll") == 5
        assert page.value("xt_unit_gauge") == 4
        assert page.families["xt_unit_seconds"][0] == "histogram"
        assert page.value("xt_unit_seconds_bucket", le="0.25") == 0
        assert page.value("xt_unit_seconds_bucket", le="0.5") == 1
        assert page.value("xt_unit_seconds_bucket", le="+Inf") == 2
        assert page.value("xt_unit_seconds_count") == 2
        assert abs(page.value("xt_unit_seconds_sum") - 7.3) < 1e-9
