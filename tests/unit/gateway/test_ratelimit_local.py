"""Rate limits without Redis (local buckets): the N+1th statement of a principal is denied with a
Retry-After, buckets refill over time, the runtime bucket is shared by principals, a token is taken
from both buckets or neither, a null bucket is no limit, disabled limits allow all, and settings.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from gateway.ratelimit import RateDecision, RateLimitSettings, create_rate_limiter


def settings(**values: object) -> RateLimitSettings:
    return RateLimitSettings.model_validate({"enabled": True, **values})


async def test_disabled_limiter_allows_everything_with_backend_off() -> None:
    limiter = create_rate_limiter(RateLimitSettings(), None)
    for _ in range(100):
        decision = await limiter.acquire("user:a", "ns/rt")
        assert decision == RateDecision(allowed=True, retry_after=0.0, scope="none", backend="off")


async def test_principal_is_denied_after_burst_with_retry_after() -> None:
    limiter = create_rate_limiter(
        settings(perPrincipal={"ratePerSecond": 0.5, "burst": 3}, perRuntime=None), None
    )
    allowed = [await limiter.acquire("user:a", "ns/rt") for _ in range(3)]
    assert all(d.allowed and d.backend == "local" for d in allowed)
    denied = await limiter.acquire("user:a", "ns/rt")
    assert not denied.allowed
    assert denied.scope == "principal"
    assert 1.0 < denied.retry_after <= 2.0  # one token at 0.5/s, less what refilled meanwhile
    assert denied.retry_after_header == "2"
    assert (await limiter.acquire("user:b", "ns/rt")).allowed, "other principals keep their bucket"


async def test_bucket_refills_over_time() -> None:
    now = [100.0]
    limiter = create_rate_limiter(
        settings(perPrincipal={"ratePerSecond": 4, "burst": 2}, perRuntime=None),
        None,
        clock=lambda: now[0],
    )
    assert (await limiter.acquire("user:a", "rt")).allowed
    assert (await limiter.acquire("user:a", "rt")).allowed
    denied = await limiter.acquire("user:a", "rt")
    assert not denied.allowed and denied.retry_after == pytest.approx(0.25)
    now[0] += 0.2
    assert not (await limiter.acquire("user:a", "rt")).allowed
    now[0] += 0.05
    assert (await limiter.acquire("user:a", "rt")).allowed
    now[0] += 10
    assert [(await limiter.acquire("user:a", "rt")).allowed for _ in range(3)] == [True, True, False]


async def test_bucket_refills_on_the_real_clock() -> None:
    limiter = create_rate_limiter(
        settings(perPrincipal={"ratePerSecond": 2, "burst": 1}, perRuntime=None), None
    )
    assert (await limiter.acquire("user:a", "rt")).allowed
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not (await limiter.acquire("user:a", "rt")).allowed:
        assert loop.time() < deadline, "bucket did not refill within 5 s at 2 tokens/s"
        await asyncio.sleep(0.01)


async def test_runtime_bucket_is_shared_by_all_principals() -> None:
    limiter = create_rate_limiter(
        settings(
            perPrincipal={"ratePerSecond": 1, "burst": 10},
            perRuntime={"ratePerSecond": 0.1, "burst": 4},
        ),
        None,
    )
    decisions = [await limiter.acquire(f"user:{i}", "ns/rt") for i in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert decisions[-1].scope == "runtime"
    assert (await limiter.acquire("user:0", "ns/other")).allowed


async def test_denied_request_takes_no_token_from_the_other_bucket() -> None:
    limiter = create_rate_limiter(
        settings(
            perPrincipal={"ratePerSecond": 0.01, "burst": 2},
            perRuntime={"ratePerSecond": 0.01, "burst": 3},
        ),
        None,
    )
    assert (await limiter.acquire("user:a", "rt")).allowed
    assert (await limiter.acquire("user:a", "rt")).allowed
    for _ in range(5):
        assert (await limiter.acquire("user:a", "rt")).scope == "principal"
    assert (await limiter.acquire("user:b", "rt")).allowed, "the runtime bucket kept its last token"
    assert (await limiter.acquire("user:c", "rt")).scope == "runtime"


async def test_null_buckets_mean_no_limit() -> None:
    limiter = create_rate_limiter(settings(perPrincipal=None, perRuntime=None), None)
    assert (await limiter.acquire("user:a", "rt")).backend == "off"


def test_settings_are_camel_case_and_strict() -> None:
    parsed = settings(perPrincipal={"ratePerSecond": 2.5, "burst": 5}, keyPrefix="gw:")
    assert parsed.per_principal is not None and parsed.per_principal.rate_per_second == 2.5
    assert parsed.key_prefix == "gw:"
    with pytest.raises(ValidationError, match="perUser"):
        settings(perUser={"ratePerSecond": 1, "burst": 1})
    with pytest.raises(ValidationError):
        settings(perPrincipal={"ratePerSecond": 0, "burst": 1})
    with pytest.raises(ValidationError):
        settings(perPrincipal={"ratePerSecond": 1, "burst": 0})


async def test_acquire_now_decides_without_redis_and_shares_the_buckets_of_acquire() -> None:
    assert create_rate_limiter(RateLimitSettings(), None).acquire_now("user:a", "ns/rt") == RateDecision(
        allowed=True, retry_after=0.0, scope="none", backend="off")
    limiter = create_rate_limiter(settings(perPrincipal={"ratePerSecond": 0.01, "burst": 3}, perRuntime=None), None)
    now = [limiter.acquire_now("user:a", "ns/rt") for _ in range(2)]
    assert all(d is not None and d.allowed and d.backend == "local" for d in now)
    assert (await limiter.acquire("user:a", "ns/rt")).allowed, "one token left after two taken without waiting"
    denied = limiter.acquire_now("user:a", "ns/rt")
    assert denied is not None and not denied.allowed and denied.scope == "principal"
    assert not (await limiter.acquire("user:a", "ns/rt")).allowed
