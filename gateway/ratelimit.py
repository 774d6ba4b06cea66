"""Token-bucket rate limits per principal and per runtime on new statements (`gateway.rateLimit`).
Redis runs one atomic Lua script (server TIME) shared by all replicas; local buckets take over when
Redis is down or slow, so a Redis outage never fails a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from redis.exceptions import NoScriptError, RedisError

from xtrinode.durations import Duration

__all__ = [
    "BucketSettings",
    "RateDecision",
    "RateLimitSettings",
    "RateLimiter",
    "TOKEN_BUCKET_LUA",
    "create_rate_limiter",
]

log = logging.getLogger("gateway.ratelimit")

Scope = Literal["principal", "runtime", "none"]
Backend = Literal["redis", "local", "off"]


class _Settings(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class BucketSettings(_Settings):
    """One token bucket: `burst` statements at once, refilled at `ratePerSecond`."""

    rate_per_second: float = Field(gt=0, description="Refill rate, statements per second.")
    burst: int = Field(ge=1, description="Bucket size: statements allowed at once.")


class RateLimitSettings(_Settings):
    """`gateway.rateLimit`: buckets per principal and per runtime; a null bucket is no limit."""

    enabled: bool = Field(default=False, description="Limit new statements. Default false.")
    per_principal: BucketSettings | None = Field(
        default_factory=lambda: BucketSettings(rate_per_second=5.0, burst=20),
        description="Per principal (API key id, JWT subject, X-Trino-User or client IP). "
        "Default 5/s, burst 20; null for no per-principal limit.",
    )
    per_runtime: BucketSettings | None = Field(
        default_factory=lambda: BucketSettings(rate_per_second=50.0, burst=200),
        description="Per runtime (all principals together). Default 50/s, burst 200; null for "
        "no per-runtime limit.",
    )
    key_prefix: str = Field(
        default="xtrinode:gateway:rl:", description="Prefix of the Redis bucket keys."
    )
    redis_timeout: Duration = Field(
        default=timedelta(milliseconds=250),
        description="Longest wait for Redis per decision before the local buckets decide. "
        "Default 250ms.",
    )
    redis_retry_interval: Duration = Field(
        default=timedelta(seconds=5),
        description="After a Redis failure, decide locally for this long before trying Redis "
        "again. Default 5s.",
    )
    local_max_buckets: int = Field(
        default=100_000, ge=1, description="Local buckets kept (least recently used dropped)."
    )


@dataclass(frozen=True)
class RateDecision:
    """`allowed`, else `retry_after` seconds (> 0) and the `scope` whose bucket was empty."""

    allowed: bool
    retry_after: float
    scope: Scope
    backend: Backend

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for the Retry-After header (at least 1 when denied)."""
        return "0" if self.allowed else str(max(1, math.ceil(self.retry_after)))


# KEYS[1] principal bucket, KEYS[2] runtime bucket; ARGV rate1 burst1 rate2 burst2 (rate 0 = no
# limit). Each bucket is a hash {tokens, ts} in Redis server seconds. Both buckets are checked
# first and a token is taken from each only when both have one. Returns {allowed, wait, scope}.
TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function level(key, rate, burst)
  if rate <= 0 then return nil end
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then return burst end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  return math.min(burst, tokens + elapsed * rate)
end
local function wait(tokens, rate)
  if tokens == nil or tokens >= 1 then return 0 end
  return (1 - tokens) / rate
end
local rate1, burst1 = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate2, burst2 = tonumber(ARGV[3]), tonumber(ARGV[4])
local p = level(KEYS[1], rate1, burst1)
local r = level(KEYS[2], rate2, burst2)
local pw, rw = wait(p, rate1), wait(r, rate2)
if pw > 0 or rw > 0 then
  if pw >= rw then return {0, tostring(pw), 'principal'} end
  return {0, tostring(rw), 'runtime'}
end
local function take(key, tokens, rate, burst)
  if tokens == nil then return end
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
take(KEYS[1], p, rate1, burst1)
take(KEYS[2], r, rate2, burst2)
return {1, '0', 'none'}
"""
_LUA_SHA = hashlib.sha1(TOKEN_BUCKET_LUA.encode()).hexdigest()

_ALLOWED_OFF = RateDecision(allowed=True, retry_after=0.0, scope="none", backend="off")


class _LocalBuckets:
    """In-process buckets with the same arithmetic as the script (monotonic clock)."""

    def __init__(self, max_buckets: int, clock: Callable[[], float]) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max = max_buckets
        self._clock = clock

    def _level(self, key: str, spec: BucketSettings | None, now: float) -> float | None:
        if spec is None:
            return None
        stored = self._buckets.get(key)
        if stored is None:
            return float(spec.burst)
        tokens, ts = stored
        return min(float(spec.burst), tokens + max(0.0, now - ts) * spec.rate_per_second)

    def _take(self, key: str, tokens: float | None, now: float) -> None:
        if tokens is None:
            return
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)

    def acquire(
        self,
        principal: tuple[str, BucketSettings | None],
        runtime: tuple[str, BucketSettings | None],
    ) -> tuple[bool, float, Scope]:
        now = self._clock()
        p = self._level(principal[0], principal[1], now)
        r = self._level(runtime[0], runtime[1], now)
        pw = _wait(p, principal[1])
        rw = _wait(r, runtime[1])
        if pw > 0 or rw > 0:
            return (False, pw, "principal") if pw >= rw else (False, rw, "runtime")
        self._take(principal[0], p, now)
        self._take(runtime[0], r, now)
        return True, 0.0, "none"


def _wait(tokens: float | None, spec: BucketSettings | None) -> float:
    if tokens is None or spec is None or tokens >= 1:
        return 0.0
    return (1 - tokens) / spec.rate_per_second


def _key_part(value: str) -> str:
    return value if len(value) <= 200 else "sha256-" + hashlib.sha256(value.encode()).hexdigest()


class RateLimiter:
    """`await acquire(principal_key, runtime_key)` takes one token from both buckets or none."""

    def __init__(
        self,
        settings: RateLimitSettings,
        redis: aioredis.Redis | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._redis = redis
        self._clock = clock
        self._local = _LocalBuckets(settings.local_max_buckets, clock)
        self._timeout = settings.redis_timeout.total_seconds()
        self._retry_interval = settings.redis_retry_interval.total_seconds()
        self._redis_down_until = 0.0
        self._redis_healthy = True
        self.redis_failures = 0
        """Decisions that had to fall back to the local buckets because Redis failed."""

    @property
    def redis_available(self) -> bool:
        """False while decisions are local because Redis recently failed (or none is set)."""
        return self._redis is not None and self._clock() >= self._redis_down_until

    def _keys(self, principal_key: str, runtime_key: str) -> tuple[str, str]:
        prefix = self.settings.key_prefix
        return f"{prefix}p:{_key_part(principal_key)}", f"{prefix}r:{_key_part(runtime_key)}"

    def acquire_now(self, principal_key: str, runtime_key: str) -> RateDecision | None:
        """`acquire` when it needs no waiting: limits off, or decided by this replica's buckets (no Redis, or
        Redis recently failed); None when Redis decides (then await `acquire`)."""
        if not self.settings.enabled or (
            self.settings.per_principal is None and self.settings.per_runtime is None
        ):
            return _ALLOWED_OFF
        if self._redis is not None and self._clock() >= self._redis_down_until:
            return None
        return self._acquire_local(*self._keys(principal_key, runtime_key))

    def _acquire_local(self, pkey: str, rkey: str) -> RateDecision:
        allowed, wait, scope = self._local.acquire(
            (pkey, self.settings.per_principal), (rkey, self.settings.per_runtime)
        )
        return RateDecision(allowed, wait, scope, "local")

    async def acquire(self, principal_key: str, runtime_key: str) -> RateDecision:
        """Allow one new statement of `principal_key` on `runtime_key`, or say how long to wait."""
        decided = self.acquire_now(principal_key, runtime_key)
        if decided is not None:
            return decided
        pkey, rkey = self._keys(principal_key, runtime_key)
        if self._redis is not None:
            try:
                allowed, wait, scope = await asyncio.wait_for(
                    self._acquire_redis(self._redis, pkey, rkey), self._timeout
                )
                if not self._redis_healthy:
                    self._redis_healthy = True
                    log.info("rate limits are decided by Redis again")
                return RateDecision(allowed, wait, scope, "redis")
            except (RedisError, OSError, asyncio.TimeoutError) as e:
                self._redis_failed(e)
        return self._acquire_local(pkey, rkey)

    def _redis_failed(self, error: BaseException) -> None:
        self.redis_failures += 1
        if self._redis_healthy:
            self._redis_healthy = False
            log.warning(
                "rate limits fall back to local buckets (Redis retried every %.1fs): %s: %s",
                self._retry_interval,
                type(error).__name__,
                str(error)[:200],
            )
        self._redis_down_until = self._clock() + self._retry_interval

    async def _acquire_redis(
        self, redis: aioredis.Redis, pkey: str, rkey: str
    ) -> tuple[bool, float, Scope]:
        settings = self.settings
        args = [*_bucket_args(settings.per_principal), *_bucket_args(settings.per_runtime)]
        try:
            reply = await redis.evalsha(_LUA_SHA, 2, pkey, rkey, *args)
        except NoScriptError:
            await redis.script_load(TOKEN_BUCKET_LUA)
            reply = await redis.evalsha(_LUA_SHA, 2, pkey, rkey, *args)
        return _parse_reply(reply)


def _bucket_args(spec: BucketSettings | None) -> tuple[str, str]:
    if spec is None:
        return "0", "0"
    return repr(float(spec.rate_per_second)), str(spec.burst)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_reply(reply: object) -> tuple[bool, float, Scope]:
    if not isinstance(reply, (list, tuple)) or len(reply) != 3:
        raise RedisError(f"unexpected rate-limit script reply {reply!r}")
    allowed = int(reply[0]) == 1
    wait = float(_text(reply[1]))
    scope_text = _text(reply[2])
    scope: Scope = "principal" if scope_text == "principal" else (
        "runtime" if scope_text == "runtime" else "none"
    )
    if not allowed:
        wait = max(wait, 0.001)
    return allowed, wait, scope


def create_rate_limiter(
    settings: RateLimitSettings,
    redis: aioredis.Redis | None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> RateLimiter:
    """The limiter for `settings`; `redis` (owned by the caller, with a short socket timeout)
    shares buckets across replicas, None keeps them in this process. `clock` (monotonic seconds)
    drives the local buckets and the Redis retry interval; tests pass a fake one."""
    return RateLimiter(settings, redis, clock=clock)
