"""The per-backend circuit breaker of gateway/health.py (no probes sent).

Checks: the breaker opens after failureThreshold consecutive failures, refuses new queries while open,
lets one trial through (half-open) after openFor, and a success closes it; a failed probe (connection refused on loopback) makes a backend unusable.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from gateway.health import HealthMonitor
from gateway.metrics import GatewayMetrics
from gateway.settings import BreakerSettings, HealthSettings
from gateway.sticky import StickyStore


@pytest.fixture
async def monitor() -> AsyncIterator[HealthMonitor]:
    metrics = GatewayMetrics()
    sticky = StickyStore(lru_size=10, ttl=timedelta(minutes=1), metrics=metrics)
    async with aiohttp.ClientSession() as session:
        yield HealthMonitor(
            session,
            HealthSettings(interval=timedelta(seconds=1), timeout=timedelta(seconds=1)),
            BreakerSettings(failure_threshold=3, open_for=timedelta(seconds=0.2)),
            metrics,
            sticky,
            lambda url: url,
        )


def test_breaker_opens_after_the_threshold_and_half_opens_after_open_for(monitor: HealthMonitor) -> None:
    for _ in range(2):
        monitor.record_failure("http://b", "refused")
    assert monitor.usable("http://b")
    monitor.record_failure("http://b", "refused")
    assert not monitor.usable("http://b")
    time.sleep(0.25)
    assert monitor.usable("http://b")  # the one trial
    assert not monitor.usable("http://b")  # others wait for its outcome
    monitor.record_success("http://b")
    assert monitor.usable("http://b") and monitor.usable("http://b")


async def test_a_failed_probe_makes_the_backend_unusable(monitor: HealthMonitor) -> None:
    assert monitor.usable("http://127.0.0.1:9")  # never probed: allowed
    assert not await monitor.probe("http://127.0.0.1:9")
    assert not monitor.usable("http://127.0.0.1:9")
    assert "ClientConnectorError" in monitor.state("http://127.0.0.1:9").detail
