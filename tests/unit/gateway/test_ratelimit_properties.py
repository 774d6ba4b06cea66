"""Token-bucket properties of the local buckets under a fake clock, for any arrival pattern: never
more than `burst + rate * elapsed` statements allowed; a denial's retry_after is positive and waiting
exactly that long is enough.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ratelimit import RateLimitSettings, create_rate_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rate=st.floats(min_value=0.1, max_value=50),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=80),
)
async def test_allowed_statements_never_exceed_burst_plus_refill(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    limiter = create_rate_limiter(
        RateLimitSettings.model_validate(
            {"enabled": True, "perPrincipal": {"ratePerSecond": rate, "burst": burst},
             "perRuntime": None}
        ),
        None,
        clock=clock,
    )
    start, allowed = clock.now, 0
    for gap in gaps:
        clock.now += gap
        decision = await limiter.acquire("user:a", "rt")
        if decision.allowed:
            allowed += 1
        else:
            assert decision.retry_after > 0 and decision.scope == "principal"
            assert decision.retry_after <= 1 / rate + 1e-9
        assert allowed <= burst + math.floor((clock.now - start) * rate + 1e-9)

    if not decision.allowed:
        clock.now += decision.retry_after + 1e-9
        assert (await limiter.acquire("user:a", "rt")).allowed, "waiting retry_after is enough"

