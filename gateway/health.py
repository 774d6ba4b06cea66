"""Backend health: active `/v1/info` probes and a circuit breaker per backend.

A backend takes new queries when its last probe said ready (`starting` false) or it was never probed,
and its breaker is closed (or half-open for one trial after `breaker.openFor`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.forward import json_body
from gateway.metrics import GatewayMetrics
from gateway.settings import BreakerSettings, HealthSettings
from gateway.sticky import StickyStore
from xtrinode.trino_protocol import Path, airlift_duration_seconds

__all__ = ["BackendHealth", "HealthMonitor"]

log = logging.getLogger("xtrinode.gateway.health")

_INFO_REUSE = 0.2
"""Seconds after a backend's `/v1/info` request during which later callers share its answer."""


@dataclass(slots=True)
class BackendHealth:
    """What this replica knows about one backend."""

    ready: bool | None = None  # None: never probed
    detail: str = "not probed"
    failures: int = 0
    opened_at: float | None = None  # breaker open since (monotonic), None when closed
    trial_started: float | None = None  # half-open: one trial request at a time


class HealthMonitor:
    """Probes every backend of the route table and keeps a breaker per backend."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        health: HealthSettings,
        breaker: BreakerSettings,
        metrics: GatewayMetrics,
        sticky: StickyStore,
        resolve: Callable[[str], str],
    ) -> None:
        self._session = session
        self._settings = health
        self._threshold = breaker.failure_threshold
        self._open_for = breaker.open_for.total_seconds()
        self._metrics = metrics
        self._sticky = sticky
        self._resolve = resolve
        self._state: dict[str, BackendHealth] = {}
        self._infos: dict[str, tuple[float, asyncio.Future[tuple[Any, str | None]]]] = {}
        """Per backend: when its latest `/v1/info` request was sent, and its answer."""
        self.wakeup = asyncio.Event()

    def state(self, backend: str) -> BackendHealth:
        found = self._state.get(backend)
        if found is None:
            found = self._state[backend] = BackendHealth()
            self._metrics.breaker_open.labels(backend).set(0)
        return found

    def usable(self, backend: str) -> bool:
        """May a new query go to this backend now?"""
        state = self.state(backend)
        if state.ready is False:
            return False
        if state.opened_at is None:
            return True
        now = time.monotonic()
        if now - state.opened_at < self._open_for:
            return False
        if state.trial_started is not None and now - state.trial_started < self._open_for:
            return False
        state.trial_started = now  # half-open: let this one through
        return True

    def record_success(self, backend: str) -> None:
        state = self.state(backend)
        state.failures = 0
        if state.opened_at is not None or state.trial_started is not None:
            log.info("breaker of %s closed", backend)
            state.opened_at = state.trial_started = None
            self._metrics.breaker_open.labels(backend).set(0)

    def record_failure(self, backend: str, reason: str) -> None:
        state = self.state(backend)
        state.failures += 1
        state.trial_started = None
        if state.failures >= self._threshold:
            if state.opened_at is None:
                log.warning("breaker of %s opened after %d failures (last: %s)", backend, state.failures, reason)
            state.opened_at = time.monotonic()
            self._metrics.breaker_open.labels(backend).set(1)

    async def probe(self, backend: str) -> bool:
        """One `/v1/info` probe; updates readiness and the backend's coordinator id."""
        state = self.state(backend)
        info, failure = await self._info(backend)
        if failure is not None:
            ready, detail = False, failure
        else:
            starting = bool(info.get("starting", False)) if isinstance(info, dict) else True
            ready, detail = not starting, "starting" if starting else "ready"
            if isinstance(info, dict) and isinstance(info.get("coordinatorId"), str):
                self._sticky.note_coordinator(backend, info["coordinatorId"])
        if state.ready != ready:
            log.info("backend %s is %s (%s)", backend, "ready" if ready else "not ready", detail)
        state.ready, state.detail = ready, detail
        self._metrics.backend_healthy.labels(backend).set(1 if ready else 0)
        if ready:
            self.record_success(backend)
        return ready

    async def started_within(self, backend: str, seconds: float) -> bool:
        """Whether `backend` answers `/v1/info` as a coordinator that has finished starting and has been up
        for less than `seconds` (its `uptime`): a process started since then, not one still draining.
        Leaves the backend's readiness and breaker alone (the route may still be PAUSED)."""
        info, failure = await self._info(backend)
        if failure is not None or not isinstance(info, dict) or info.get("starting", True):
            return False
        uptime = airlift_duration_seconds(info["uptime"]) if isinstance(info.get("uptime"), str) else None
        return uptime is not None and uptime < seconds

    async def _info(self, backend: str) -> tuple[Any, str | None]:
        """The backend's `/v1/info` document, or why there is none. Callers within `_INFO_REUSE` of a request
        to the same backend share its answer (each held statement of a resume watches the same starting
        coordinator)."""
        asked = self._infos.get(backend)
        if asked is None or (asked[1].done() and time.monotonic() - asked[0] >= _INFO_REUSE):
            asked = self._infos[backend] = (time.monotonic(), asyncio.ensure_future(self._fetch_info(backend)))
        return await asyncio.shield(asked[1])

    async def _fetch_info(self, backend: str) -> tuple[Any, str | None]:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout.total_seconds())
        try:
            async with self._session.get(self._resolve(backend) + Path.INFO, timeout=timeout,
                                         headers={"Accept-Encoding": "gzip"}) as response:
                if response.status != 200:
                    return None, f"/v1/info answered {response.status}"
                # The proxy's session does not decompress: decode what the backend sent (Trino gzips).
                return json_body(await response.read(), response.headers.get("Content-Encoding")), None
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            return None, f"{type(e).__name__}: {str(e)[:200]}"

    async def run(self, backends: Callable[[], Iterable[str]]) -> None:
        """Probe every backend each `health.interval`, or at once when `wakeup` is set (route change)."""
        interval = self._settings.interval.total_seconds()
        while True:
            current = set(backends())
            for gone in set(self._state) - current:
                del self._state[gone]
                self._infos.pop(gone, None)
                for gauge in (self._metrics.backend_healthy, self._metrics.breaker_open):
                    try:
                        gauge.remove(gone)
                    except KeyError:
                        pass
            if current:
                await asyncio.gather(*(self.probe(b) for b in sorted(current)))
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), interval)
            except TimeoutError:
                pass
