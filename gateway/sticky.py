"""Sticky routing: which backend owns a query, in a local LRU and (when configured) Redis shared by replicas.

Also remembers each backend's coordinator id (the `ccccc` suffix of its query ids, or `/v1/info`
`coordinatorId`), so a mapping to a coordinator that has since restarted is treated as gone.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.metrics import GatewayMetrics

__all__ = ["StickyStore", "Target", "coordinator_id_of"]

log = logging.getLogger("xtrinode.gateway.sticky")


def coordinator_id_of(query_id: str) -> str | None:
    """`20250101_120000_00000_abcde` -> `abcde` (None when the id has no such suffix)."""
    parts = query_id.rsplit("_", 1)
    return parts[1] if len(parts) == 2 and len(parts[1]) == 5 else None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a query lives: the runtime's route key (`namespace/name`), its backend base URL, and the
    principal that started it (`Principal.key`; None with auth off or when unknown)."""

    route_key: str
    backend: str
    owner: str | None = None

    def encode(self) -> str:
        return f"{self.route_key}\n{self.backend}\n{self.owner or ''}"

    @classmethod
    def decode(cls, text: str) -> Target | None:
        parts = text.split("\n")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            return None
        owner = parts[2] if len(parts) == 3 and parts[2] else None
        return cls(parts[0], parts[1], owner)


class StickyStore:
    """query id -> Target; the local LRU always answers first, Redis is the shared second level."""

    def __init__(
        self,
        *,
        lru_size: int,
        ttl: timedelta,
        metrics: GatewayMetrics,
        redis: aioredis.Redis | None = None,
        key_prefix: str = "xtrinode:gateway:",
        retry_after: timedelta = timedelta(seconds=1),
    ) -> None:
        self._lru: OrderedDict[str, Target] = OrderedDict()
        self._size = lru_size
        self._ttl = max(1, int(ttl.total_seconds()))
        self._metrics = metrics
        self._redis = redis
        self._prefix = key_prefix + "q:"
        self._retry_after = retry_after.total_seconds()
        self._redis_down_until = 0.0
        self._aliases: OrderedDict[str, str] = OrderedDict()  # held statement id -> coordinator's query id
        self._local_hits = metrics.sticky_hits.labels("local")
        self._coordinators: dict[str, str] = {}  # backend -> current coordinator id
        self._backend_of: dict[str, str] = {}  # coordinator id -> backend

    def __len__(self) -> int:
        return len(self._lru)

    def _remember(self, query_id: str, target: Target) -> None:
        self._lru[query_id] = target
        self._lru.move_to_end(query_id)
        while len(self._lru) > self._size:
            self._lru.popitem(last=False)

    def _redis_usable(self, operation: str) -> aioredis.Redis | None:
        if self._redis is None:
            return None
        if time.monotonic() < self._redis_down_until:
            self._metrics.redis_fallbacks.labels(operation).inc()
            return None
        return self._redis

    def _redis_failed(self, operation: str, error: BaseException) -> None:
        self._metrics.redis_fallbacks.labels(operation).inc()
        if time.monotonic() >= self._redis_down_until:
            log.warning("redis %s failed (%s); sticky routes stay local for %.1fs", operation, type(error).__name__, self._retry_after)
        self._redis_down_until = time.monotonic() + self._retry_after

    @property
    def shared(self) -> bool:
        """True when Redis holds the routes too: a new one is written there (`share`) before its client
        may follow it, maybe through another replica."""
        return self._redis is not None

    def put_local(self, query_id: str, target: Target) -> None:
        """Remember the query's target in this replica (`put` without the Redis write)."""
        self._remember(query_id, target)

    async def put(self, query_id: str, target: Target) -> None:
        self._remember(query_id, target)
        await self.share(query_id, target)

    async def share(self, query_id: str, target: Target) -> None:
        """Write the query's target to Redis (when set and usable) for the other replicas."""
        client = self._redis_usable("sticky_put")
        if client is None:
            return
        try:
            await client.set(self._prefix + query_id, target.encode(), ex=self._ttl)
        except (RedisError, OSError, TimeoutError) as e:
            self._redis_failed("sticky_put", e)

    def peek(self, query_id: str) -> Target | None:
        """The target this replica remembers for the query, not counted and not refreshed."""
        return self._lru.get(query_id)

    def local(self, query_id: str) -> Target | None:
        """The target this replica remembers for the query (counted as a local hit), or None."""
        found = self._lru.get(query_id)
        if found is not None:
            self._lru.move_to_end(query_id)
            self._local_hits.inc()
        return found

    async def get(self, query_id: str) -> Target | None:
        found = self.local(query_id)
        if found is not None:
            return found
        client = self._redis_usable("sticky_get")
        if client is None:
            return None
        try:
            raw = await client.get(self._prefix + query_id)
        except (RedisError, OSError, TimeoutError) as e:
            self._redis_failed("sticky_get", e)
            return None
        if raw is None:
            return None
        target = Target.decode(raw.decode() if isinstance(raw, bytes) else str(raw))
        if target is not None:
            self._remember(query_id, target)
            self._metrics.sticky_hits.labels("redis").inc()
        return target

    async def alias(self, held_id: str, real_id: str) -> None:
        """Remember that the gateway's id of a held statement now names the coordinator's query `real_id`."""
        self._aliases[held_id] = real_id
        self._aliases.move_to_end(held_id)
        while len(self._aliases) > self._size:
            self._aliases.popitem(last=False)
        client = self._redis_usable("sticky_put")
        if client is None:
            return
        try:
            await client.set(self._prefix + "alias:" + held_id, real_id, ex=self._ttl)
        except (RedisError, OSError, TimeoutError) as e:
            self._redis_failed("sticky_put", e)

    async def resolve_alias(self, query_id: str) -> str | None:
        """The coordinator's query id a held statement's id stands for, if it is an alias."""
        found = self._aliases.get(query_id)
        if found is not None:
            return found
        client = self._redis_usable("sticky_get")
        if client is None:
            return None
        try:
            raw = await client.get(self._prefix + "alias:" + query_id)
        except (RedisError, OSError, TimeoutError) as e:
            self._redis_failed("sticky_get", e)
            return None
        if raw is None:
            return None
        real = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._aliases[query_id] = real
        return real

    def forget(self, query_id: str) -> None:
        self._lru.pop(query_id, None)

    def note_coordinator(self, backend: str, coordinator_id: str | None) -> None:
        """Record the coordinator id a backend currently runs (from a new query id or /v1/info)."""
        if not coordinator_id:
            return
        old = self._coordinators.get(backend)
        if old != coordinator_id:
            if old is not None:
                log.info("backend %s restarted: coordinator id %s -> %s", backend, old, coordinator_id)
                self._backend_of.pop(old, None)
            self._coordinators[backend] = coordinator_id
            self._backend_of[coordinator_id] = backend

    def coordinator_of(self, backend: str) -> str | None:
        return self._coordinators.get(backend)

    def backend_for_coordinator(self, coordinator_id: str) -> str | None:
        return self._backend_of.get(coordinator_id)

    def is_stale(self, query_id: str, backend: str) -> bool:
        """True when the backend's coordinator now has another id than the one that made this query."""
        current = self._coordinators.get(backend)
        made_by = coordinator_id_of(query_id)
        return current is not None and made_by is not None and current != made_by
