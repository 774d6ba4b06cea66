"""Finding 6: 500s and memory on bad input, tracebacks for clients that went away.

Against real gateway processes: invalid UTF-8 in a Bearer token (API keys and OIDC) and in X-Trino-User
(with the Redis limiter) is a 400 naming the header, never a 500; any request body with a
Content-Encoding (valid gzip too) is a 415; a 200 KB gzip bomb (200 MB inflated) is a 415 and the
process's RSS grows by less than 10 MB; 400 clients that start a multi-page result and close the
connection at once leave no ERROR line and no traceback in the gateway's log.
"""

from __future__ import annotations

import asyncio
import gzip

import pytest

from tests.security.security_helpers import GatewayProcess, key, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

BAD_UTF8 = b"\xff\xfe\xc3\x28garbage"


async def test_invalid_utf8_in_a_bearer_token_is_a_400(keyed: GatewayProcess, oidc: GatewayProcess) -> None:
    for gw in (keyed, oidc):
        response = await raw_request(gw.port, "POST", "/v1/statement", [(b"Authorization", b"Bearer " + BAD_UTF8)],
                                     body=b"SELECT 1")
        assert response.status == 400 and "Authorization" in response.text, response.text


async def test_invalid_utf8_in_x_trino_user_with_the_redis_limiter_is_a_400(keyed: GatewayProcess) -> None:
    response = await raw_request(keyed.port, "POST", "/v1/statement",
                                 [key("ops"), (b"X-Trino-User", b"adm" + BAD_UTF8)], body=b"SELECT 1")
    assert response.status == 400 and "X-Trino-User" in response.text
    response = await raw_request(keyed.port, "POST", "/v1/statement",
                                 [key("ops"), ("X-Trino-XTrinode", "etl"), ("X-Trino-User", "Zoë")], body=b"SELECT 1")
    assert response.status == 200, "valid UTF-8 user names are fine"


async def test_request_bodies_with_a_content_encoding_are_refused_without_inflating(keyed: GatewayProcess) -> None:
    valid = gzip.compress(b"SELECT 1")
    response = await raw_request(keyed.port, "POST", "/v1/statement",
                                 [key("alice"), ("X-Trino-XTrinode", "etl"), ("Content-Encoding", "gzip")], body=valid)
    assert response.status == 415, response.text
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 400_000
    before = keyed.rss_kib()
    for _ in range(3):
        response = await raw_request(keyed.port, "POST", "/v1/statement",
                                     [key("alice"), ("Content-Encoding", "gzip")], body=bomb, timeout=30)
        assert response.status == 415
    grown = keyed.rss_kib() - before
    assert grown < 10 * 1024, f"RSS grew {grown} KiB on a gzip bomb"


async def test_clients_that_go_away_mid_answer_leave_no_errors_in_the_log(keyed: GatewayProcess) -> None:
    started = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), ("X-Trino-XTrinode", "etl")],
                                body=b"SELECT x FROM UNNEST(sequence(1, 5000)) AS t(x)")
    page = started.json()
    path = "/" + page["nextUri"].split("/", 3)[3]
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key('alice')[1]}\r\n\r\n").encode()
    errors_before = sum(1 for line in keyed.log_lines() if line.get("level") in ("ERROR", "CRITICAL", "RAW"))

    async def abandon() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", keyed.port)
        writer.write(request)
        await writer.drain()
        writer.transport.abort()  # gone before the answer

    for _ in range(8):
        await asyncio.gather(*(abandon() for _ in range(50)))
    await asyncio.sleep(1.0)
    bad = [line for line in keyed.log_lines() if line.get("level") in ("ERROR", "CRITICAL", "RAW")]
    assert len(bad) == errors_before, bad[-3:]
    assert not any("Traceback" in str(line) for line in keyed.log_lines())
