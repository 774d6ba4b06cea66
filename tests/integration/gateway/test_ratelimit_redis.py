"""Rate limits on a real Redis: the N+1th statement of a principal is denied with a Retry-After,
buckets refill, the runtime bucket is shared, two limiters on one Redis share limits, the Lua script
is atomic under concurrent acquires (exactly `burst` allowed), a flushed script is reloaded (NOSCRIPT),
bucket keys expire, and an unreachable, silent or stopped Redis falls back to local buckets that still
limit, trying Redis again only after the retry interval and returning to it once it is back.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.ratelimit import RateLimiter, RateLimitSettings, create_rate_limiter
from devstack.ports import free_port as _free_port


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], aioredis.Redis]]:
    """Redis clients with short timeouts, closed after the test."""
    made: list[aioredis.Redis] = []

    def connect(url: str) -> aioredis.Redis:
        client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.aclose()


@pytest.fixture
def limiter_for(clients: Callable[[str], aioredis.Redis]) -> Callable[..., RateLimiter]:
    """Limiters with a fresh key prefix per test (so tests never share buckets) and, unless a test
    sets it, a Redis timeout generous enough for a loaded CI machine opening fresh connections."""
    prefix = f"test:{uuid.uuid4().hex[:8]}:"

    def build(url: str | None, **values: Any) -> RateLimiter:
        settings = RateLimitSettings.model_validate(
            {"enabled": True, "keyPrefix": prefix, "perRuntime": None, "redisTimeout": "5s"}
            | values
        )
        return create_rate_limiter(settings, clients(url) if url else None)

    return build


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: run `make setup`"
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_listening(port: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, f"redis not listening on {port}"
            await asyncio.sleep(0.05)


@pytest.fixture
def own_redis() -> Iterator[tuple[int, Callable[[], subprocess.Popen[bytes]]]]:
    """A private redis-server this test may stop and start again on the same port."""
    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        procs.append(_start_redis(port))
        return procs[-1]

    yield port, start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


async def test_principal_denied_after_burst_with_retry_after(
    redis_url: str, limiter_for: Callable[..., RateLimiter]
) -> None:
    limiter = limiter_for(redis_url, perPrincipal={"ratePerSecond": 0.5, "burst": 3})
    allowed = [await limiter.acquire("user:a", "ns/rt") for _ in range(3)]
    assert all(d.allowed and d.backend == "redis" for d in allowed)
    denied = await limiter.acquire("user:a", "ns/rt")
    assert (denied.allowed, denied.scope, denied.backend) == (False, "principal", "redis")
    assert 1.0 < denied.retry_after <= 2.0  # one token at 0.5/s, less what refilled meanwhile
    assert (await limiter.acquire("user:b", "ns/rt")).allowed


async def test_bucket_refills_over_time(
    redis_url: str, limiter_for: Callable[..., RateLimiter]
) -> None:
    limiter = limiter_for(redis_url, perPrincipal={"ratePerSecond": 2, "burst": 2})
    assert (await limiter.acquire("user:a", "rt")).allowed
    assert (await limiter.acquire("user:a", "rt")).allowed
    assert not (await limiter.acquire("user:a", "rt")).allowed
    deadline = asyncio.get_running_loop().time() + 5
    while not (decision := await limiter.acquire("user:a", "rt")).allowed:
        assert asyncio.get_running_loop().time() < deadline, "no refill within 5 s at 2/s"
        await asyncio.sleep(0.01)
    assert decision.backend == "redis"


async def test_runtime_bucket_limits_all_principals_together(
    redis_url: str, limiter_for: Callable[..., RateLimiter]
) -> None:
    limiter = limiter_for(
        redis_url,
        perPrincipal={"ratePerSecond": 1, "burst": 10},
        perRuntime={"ratePerSecond": 0.1, "burst": 4},
    )
    decisions = [await limiter.acquire(f"user:{i}", "ns/rt") for i in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert decisions[-1].scope == "runtime" and decisions[-1].retry_after > 5
    assert (await limiter.acquire("user:0", "ns/other")).allowed


async def test_two_limiters_on_one_redis_share_limits(
    redis_url: str, limiter_for: Callable[..., RateLimiter]
) -> None:
    bucket = {"perPrincipal": {"ratePerSecond": 0.01, "burst": 4}}
    first, second = limiter_for(redis_url, **bucket), limiter_for(redis_url, **bucket)
    assert all([(await first.acquire("user:a", "rt")).allowed for _ in range(2)])
    assert all([(await second.acquire("user:a", "rt")).allowed for _ in range(2)])
    assert not (await first.acquire("user:a", "rt")).allowed
    assert not (await second.acquire("user:a", "rt")).allowed


async def test_concurrent_acquires_allow_exactly_the_burst(
    redis_url: str, limiter_for: Callable[..., RateLimiter]
) -> None:
    bucket = {"perPrincipal": {"ratePerSecond": 0.001, "burst": 10}}
    limiters = [limiter_for(redis_url, **bucket) for _ in range(5)]
    decisions = await asyncio.gather(
        *(limiters[i % 5].acquire("user:a", "rt") for i in range(50))
    )
    assert all(d.backend == "redis" for d in decisions)
    assert sum(d.allowed for d in decisions) == 10


async def test_both_buckets_are_taken_together_under_concurrency(
    redis_url: str, limiter_for: Callable[..., RateLimiter]
) -> None:
    buckets = {
        "perPrincipal": {"ratePerSecond": 0.001, "burst": 3},
        "perRuntime": {"ratePerSecond": 0.001, "burst": 10},
    }
    limiters = [limiter_for(redis_url, **buckets) for _ in range(4)]
    calls = [(f"user:{i % 6}", limiters[i % 4]) for i in range(60)]
    decisions = await asyncio.gather(*(lim.acquire(user, "rt") for user, lim in calls))
    per_user: dict[str, int] = {}
    for (user, _), decision in zip(calls, decisions):
        per_user[user] = per_user.get(user, 0) + decision.allowed
    assert sum(per_user.values()) == 10, "the runtime bucket holds 10 tokens"
    assert max(per_user.values()) <= 3, "no principal exceeds its burst"


async def test_flushed_script_is_loaded_again(
    redis_url: str,
    limiter_for: Callable[..., RateLimiter],
    clients: Callable[[str], aioredis.Redis],
) -> None:
    limiter = limiter_for(redis_url, perPrincipal={"ratePerSecond": 1, "burst": 5})
    assert (await limiter.acquire("user:a", "rt")).backend == "redis"
    await clients(redis_url).script_flush()
    decision = await limiter.acquire("user:a", "rt")
    assert decision.allowed and decision.backend == "redis"


async def test_bucket_keys_expire_once_full_again(
    redis_url: str,
    limiter_for: Callable[..., RateLimiter],
    clients: Callable[[str], aioredis.Redis],
) -> None:
    limiter = limiter_for(
        redis_url,
        perPrincipal={"ratePerSecond": 2, "burst": 4},
        perRuntime={"ratePerSecond": 10, "burst": 10},
    )
    assert (await limiter.acquire("user:a", "ns/rt")).allowed
    admin = clients(redis_url)
    keys = sorted(await admin.keys(limiter.settings.key_prefix + "*"))
    assert len(keys) == 2
    prefix = limiter.settings.key_prefix
    ttls = {key.decode()[len(prefix)]: await admin.pttl(key) for key in keys}
    assert 0 < ttls["p"] <= 3000 and 0 < ttls["r"] <= 2000


async def test_unreachable_redis_falls_back_to_local_buckets(
    limiter_for: Callable[..., RateLimiter],
) -> None:
    closed = f"redis://127.0.0.1:{_free_port()}/0"
    limiter = limiter_for(
        closed, redisTimeout="250ms", perPrincipal={"ratePerSecond": 0.01, "burst": 2}
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    decisions = [await limiter.acquire("user:a", "rt") for _ in range(3)]
    assert loop.time() - started < 2, "a dead Redis must not slow decisions down"
    assert [d.backend for d in decisions] == ["local"] * 3
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[-1].retry_after > 0
    assert limiter.redis_failures == 1, "Redis is not retried on every request"
    assert not limiter.redis_available


async def test_acquire_now_leaves_the_decision_to_redis_while_redis_decides(
    redis_url: str, limiter_for: Callable[..., RateLimiter],
) -> None:
    limiter = limiter_for(redis_url, perPrincipal={"ratePerSecond": 0.01, "burst": 1})
    assert limiter.acquire_now("user:a", "rt") is None, "Redis decides: the caller must await acquire"
    assert (await limiter.acquire("user:a", "rt")).backend == "redis"
    closed = limiter_for(f"redis://127.0.0.1:{_free_port()}/0", redisTimeout="250ms",
                         perPrincipal={"ratePerSecond": 0.01, "burst": 1})
    assert closed.acquire_now("user:a", "rt") is None
    assert (await closed.acquire("user:a", "rt")).backend == "local"  # Redis failed: local buckets for a while
    decided = closed.acquire_now("user:a", "rt")
    assert decided is not None and decided.backend == "local" and not decided.allowed


async def test_failed_redis_is_tried_again_only_after_the_retry_interval(
    clients: Callable[[str], aioredis.Redis],
) -> None:
    now = [1000.0]
    limiter = create_rate_limiter(
        RateLimitSettings.model_validate({"enabled": True, "redisRetryInterval": "5s"}),
        clients(f"redis://127.0.0.1:{_free_port()}/0"),
        clock=lambda: now[0],
    )
    assert (await limiter.acquire("user:a", "rt")).backend == "local"
    now[0] += 4.9
    assert (await limiter.acquire("user:a", "rt")).backend == "local"
    assert limiter.redis_failures == 1, "Redis not tried again within the retry interval"
    now[0] += 0.2
    assert (await limiter.acquire("user:a", "rt")).backend == "local"
    assert limiter.redis_failures == 2, "Redis tried again after the retry interval"


async def test_silent_redis_times_out_into_local_buckets(
    limiter_for: Callable[..., RateLimiter],
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        limiter = limiter_for(
            f"redis://127.0.0.1:{port}/0",
            redisTimeout="200ms",
            perPrincipal={"ratePerSecond": 1, "burst": 5},
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        decision = await limiter.acquire("user:a", "rt")
        assert loop.time() - started < 1.0
        assert decision.allowed and decision.backend == "local"
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_stopped_redis_falls_back_and_returns_when_back(
    own_redis: tuple[int, Callable[[], subprocess.Popen[bytes]]],
    limiter_for: Callable[..., RateLimiter],
) -> None:
    port, start = own_redis
    proc = start()
    await _wait_listening(port)
    limiter = limiter_for(
        f"redis://127.0.0.1:{port}/0",
        redisRetryInterval="100ms",
        redisTimeout="250ms",
        perPrincipal={"ratePerSecond": 100, "burst": 1000},
    )
    assert (await limiter.acquire("user:a", "rt")).backend == "redis"
    proc.terminate()
    await asyncio.to_thread(proc.wait, 10)
    decision = await limiter.acquire("user:a", "rt")
    assert decision.allowed and decision.backend == "local"

    start()
    await _wait_listening(port)
    deadline = asyncio.get_running_loop().time() + 10
    while (decision := await limiter.acquire("user:a", "rt")).backend != "redis":
        assert decision.allowed
        assert asyncio.get_running_loop().time() < deadline, "limiter did not return to Redis"
        await asyncio.sleep(0.05)
