"""Demand across replicas: each replica publishes its per-runtime running and held counts to Redis,
and the demand/load endpoints sum every live replica's counts (KEDA and autosuspend ask any one replica).

Without Redis, or while it fails (counted as a fallback), the endpoints answer with this replica's counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.metrics import GatewayMetrics

__all__ = ["Counts", "DemandBoard"]

log = logging.getLogger("xtrinode.gateway.demand")


@dataclass(frozen=True, slots=True)
class Counts:
    running: int = 0
    held: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.running + other.running, self.held + other.held)


class DemandBoard:
    """`counts(route_key)` for this replica comes from `local`; `total(route_key)` adds the other replicas'."""

    def __init__(
        self,
        *,
        replica: str,
        local: Callable[[str], Counts],
        routes: Callable[[], list[str]],
        metrics: GatewayMetrics,
        redis: aioredis.Redis | None,
        key_prefix: str,
        interval: float,
    ) -> None:
        self._replica = replica
        self._local = local
        self._routes = routes
        self._metrics = metrics
        self._redis = redis
        self._prefix = key_prefix + "demand:"
        self._interval = interval
        self._stale_after = max(3 * interval, 1.0)

    async def publish(self) -> None:
        """Write this replica's counts of every routed runtime (one pipeline round trip)."""
        if self._redis is None:
            return
        now = f"{time.time():.3f}"
        ttl = max(int(self._stale_after * 4), 5)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self._routes():
                    counts = self._local(key)
                    pipe.hset(self._prefix + key, self._replica, f"{counts.running},{counts.held},{now}")
                    pipe.expire(self._prefix + key, ttl)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as e:
            self._metrics.redis_fallbacks.labels("demand_publish").inc()
            log.debug("demand publish failed: %s", type(e).__name__)

    async def run(self) -> None:
        while True:
            await self.publish()
            await asyncio.sleep(self._interval)

    async def total(self, route_key: str) -> Counts:
        """This replica's live counts plus every other replica's last published counts (if fresh)."""
        own = self._local(route_key)
        if self._redis is None:
            return own
        try:
            entries = await self._redis.hgetall(self._prefix + route_key)
        except (RedisError, OSError, TimeoutError):
            self._metrics.redis_fallbacks.labels("demand_read").inc()
            return own
        cutoff = time.time() - self._stale_after
        total = own
        for field, value in entries.items():
            replica = field.decode() if isinstance(field, bytes) else str(field)
            if replica == self._replica:
                continue
            try:
                running, held, stamp = (value.decode() if isinstance(value, bytes) else str(value)).split(",")
                if float(stamp) >= cutoff:
                    total = total + Counts(int(running), int(held))
            except ValueError:
                continue
        return total
