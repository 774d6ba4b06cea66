"""The property behind every finding, over generated requests to a real gateway process (API keys, Redis).

Requests are built from known endpoints mutated with dot segments (plain and encoded), encoded `/` and
`\\`, empty segments, NUL, non-ASCII, random query strings; any method; credentials valid, wrong or
garbage bytes (X-API-Key and Bearer); X-Trino-User and routing headers random, duplicated or invalid
UTF-8; spoofed forwarded headers. Each carries a unique marker in X-Trino-Client-Info (which the gateway
forwards). Asserted for every example: no 5xx, and every request a coordinator received carried a valid
credential and a canonical path (no dot or empty segments, no encoded separators). The fast suite runs
250 examples; the slow tier runs 3,000.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.security.security_helpers import API_KEYS, GatewayProcess, RecordingCoordinator, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

QID = "20261202_101010_00042_abcde"
SLUG = "y" + "ab" * 20
BASES = [
    "/v1/statement", f"/v1/statement/queued/{QID}/{SLUG}/1", f"/v1/statement/executing/{QID}/{SLUG}/0",
    "/v1/query", f"/v1/query/{QID}", f"/v1/query/{QID}/killed", "/v1/info", "/v1/info/state", "/v1/status",
    "/v1/xtrinode/demand/team-a/etl", "/ui/api/query", f"/ui/api/query/{QID}", "/ui/", "/healthz", "/metrics",
    "/v1/node", "/v1/task/x",
]
INSERTS = ["..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2f", "%2F", "%5c", "\\", "", "%00", "%25", "%252e", "ä", "%c3%a4",
           "v1", "statement", "xtrinode", "%73tatement", "%"]
VALID = list(API_KEYS.values())
GARBAGE = [b"", b"x", b"\xff\xfe", b"Bearer", "ünïcode".encode(), b"k" * 300, b"\x00", b"a\tb"]


@dataclass
class Attempt:
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    credentialed: bool


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    if draw(st.sampled_from([True, False, False])):
        # a well-formed request of a known principal, so the property also covers what does get through
        who = draw(st.sampled_from(["alice", "bob", "ops"]))
        selector = {"alice": b"etl", "bob": b"team-b/bi", "ops": b"etl"}[who]
        method, target = draw(st.sampled_from([("GET", "/v1/info"), ("POST", "/v1/statement"), ("GET", "/v1/status"),
                                                ("GET", f"/v1/query/{QID}"), ("GET", "/v1/query")]))
        headers = [(b"X-API-Key", API_KEYS[f"{who}-key"].encode()), (b"X-Trino-XTrinode", selector)]
        return Attempt(method, target.encode(), headers, True)
    base = draw(st.sampled_from(BASES))
    segments = base.split("/")[1:]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        segments.insert(draw(st.integers(0, len(segments))), draw(st.sampled_from(INSERTS)))
    target = "/" + "/".join(segments)
    if draw(st.booleans()):
        target += "?" + draw(st.sampled_from(["maxWait=1s", "a=../b", "x=%2e%2e", "q=ä", "", "%zz"]))
    method = draw(st.sampled_from(["GET", "GET", "GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH"]))
    headers: list[tuple[bytes, bytes]] = []
    credentialed = False
    kind = draw(st.sampled_from(["none", "key", "key", "key", "bearer", "both", "garbage", "wrong"]))
    if kind in ("key", "both"):
        value = draw(st.sampled_from(VALID))
        headers.append((b"X-API-Key", value.encode()))
        credentialed = True
    if kind in ("bearer", "both"):
        value = draw(st.sampled_from(VALID))
        headers.append((b"Authorization", b"Bearer " + value.encode()))
        credentialed = True
    if kind == "garbage":
        headers.append((draw(st.sampled_from([b"X-API-Key", b"Authorization"])), draw(st.sampled_from(GARBAGE))))
    if kind == "wrong":
        headers.append((b"X-API-Key", b"kx-" + uuid.uuid4().hex.encode()))
    if draw(st.sampled_from([False, False, True])):
        user = draw(st.one_of(st.sampled_from([b"admin", b"alice", b"bob", b"ops"]), st.binary(max_size=12)))
        headers.append((b"X-Trino-User", user))
    for _ in range(draw(st.integers(0, 2))):
        headers.append(draw(st.sampled_from([
            (b"X-Trino-XTrinode", b"etl"), (b"X-Trino-XTrinode", b"team-b/bi"), (b"X-Trino-XTrinode", b"team-a/sleepy"),
            (b"X-Trino-XTrinode", b"nope"), (b"X-Trino-Routing-Group", b"team-b--bi"),
            (b"X-Forwarded-Host", b"evil.example:443"), (b"X-Forwarded-For", b"6.6.6.6"),
            (b"X-Trino-User", b"admin"), (b"Content-Encoding", b"gzip"), (b"X-Trino-Original-User", b"admin"),
        ])))
    # a header repeated: the gateway must refuse it or read it one way only
    if headers and draw(st.sampled_from([False, False, False, True])):
        headers.append(draw(st.sampled_from(headers)))
    return Attempt(method, target.encode("utf-8", "surrogateescape"), headers, credentialed)


def _canonical(path_qs: str) -> bool:
    path = path_qs.split("?", 1)[0].lower()
    segments = path.split("/")[1:]
    return (not any(s in (".", "..") for s in segments) and all(segments[:-1]) and "%2e" not in path
            and "%2f" not in path and "%5c" not in path and "\\" not in path and "%00" not in path)


async def _check(gw: GatewayProcess, nodes: tuple[RecordingCoordinator, ...], attempt: Attempt) -> None:
    marker = uuid.uuid4().hex
    headers = [*attempt.headers, (b"X-Trino-Client-Info", marker.encode())]
    body = b"SELECT 1" if attempt.method in ("POST", "PUT", "PATCH") else b""
    response = await raw_request(gw.port, attempt.method, attempt.target, headers, body=body)
    assert response.status < 500, (attempt, response.status, response.text[:300])
    reached = [seen for node in nodes for seen in node.seen if seen.headers.get("X-Trino-Client-Info") == marker]
    event(f"status {response.status // 100}xx" + (", reached a coordinator" if reached else ""))
    for seen in reached:
        assert attempt.credentialed, f"reached a coordinator without a valid credential: {attempt} -> {seen.path_qs}"
        assert _canonical(seen.path_qs), f"a non-canonical path reached a coordinator: {seen.path_qs}"
        assert "X-API-Key" not in seen.headers


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                 derandomize=False)


@settings(max_examples=250, **_SETTINGS)  # type: ignore[arg-type]
@given(attempt=attempts())
async def test_generated_requests_never_5xx_and_reach_coordinators_only_with_credentials(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator, coordinator_b: RecordingCoordinator, attempt: Attempt
) -> None:
    await _check(keyed, (coordinator_a, coordinator_b), attempt)


@pytest.mark.slow
@settings(max_examples=3000, **_SETTINGS)  # type: ignore[arg-type]
@given(attempt=attempts())
async def test_many_generated_requests_never_5xx_and_reach_coordinators_only_with_credentials(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator, coordinator_b: RecordingCoordinator, attempt: Attempt
) -> None:
    await _check(keyed, (coordinator_a, coordinator_b), attempt)
