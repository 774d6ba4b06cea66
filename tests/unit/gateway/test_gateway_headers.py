"""Header hygiene of gateway/forward.py and the `xtrinode gateway` entry point's settings errors.

Checks: hop-by-hop headers (and those named in Connection) are dropped both ways; every X-Trino-*
header (repeated lines too) and Authorization pass untouched; X-Forwarded-For is appended and
X-Forwarded-Proto/Host/Port describe the gateway unless a front proxy already set them;
run_gateway exits 2 naming the unknown key of a bad settings file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from gateway.cli import run_gateway
from gateway.forward import downstream_headers, upstream_headers


def test_upstream_headers_drop_hop_by_hop_and_keep_trino_and_authorization() -> None:
    headers = CIMultiDict(
        [
            ("Host", "gw.example.com:8443"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Secret-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Authorization", "Bearer abc"),
            ("X-Trino-User", "alice"),
            ("X-Trino-Session", "a=1"),
            ("X-Trino-Session", "b=2"),
        ]
    )
    out = upstream_headers(make_mocked_request("POST", "/v1/statement", headers=headers))
    assert "Connection" not in out and "Keep-Alive" not in out and "X-Secret-Hop" not in out
    assert "Transfer-Encoding" not in out and "Host" not in out
    assert out["Authorization"] == "Bearer abc" and out["X-Trino-User"] == "alice"
    assert out.getall("X-Trino-Session") == ["a=1", "b=2"]
    assert out["X-Forwarded-Host"] == "gw.example.com:8443"
    assert out["X-Forwarded-Proto"] == "http" and out["X-Forwarded-Port"] == "8443"


def test_a_front_proxys_forwarded_headers_are_kept_and_for_is_appended() -> None:
    headers = CIMultiDict(
        [("Host", "gw.internal"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "trino.example.com"),
         ("X-Forwarded-For", "203.0.113.7")]
    )
    request = make_mocked_request("GET", "/v1/info", headers=headers)
    out = upstream_headers(request)
    assert out["X-Forwarded-Proto"] == "https" and out["X-Forwarded-Host"] == "trino.example.com"
    assert out["X-Forwarded-For"].startswith("203.0.113.7")


def test_downstream_headers_keep_set_session_lines_and_drop_hop_by_hop() -> None:
    out = downstream_headers(
        CIMultiDict([("Connection", "close"), ("X-Trino-Set-Session", "a=1"), ("X-Trino-Set-Session", "b=2"),
                     ("Content-Length", "10")])
    )
    assert out.getall("X-Trino-Set-Session") == ["a=1", "b=2"]
    assert "Connection" not in out and out["Content-Length"] == "10"


def test_run_gateway_exits_2_naming_an_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("routes: {nmespace: x}\n")
    assert run_gateway(["--config", str(config)]) == 2
    assert "routes.nmespace: unknown key" in capsys.readouterr().err
