"""Header hygiene of gateway/forward.py and the `xtrinode gateway` entry point's settings errors.

Checks: hop-by-hop headers (and those named in Connection) are dropped both ways; every X-Trino-*
header (repeated lines too) and a JWT Authorization pass untouched; X-API-Key never goes upstream;
forwarded headers come from the gateway's ClientView: an untrusted client's X-Forwarded-*/Forwarded are
replaced, a trusted proxy's are kept and X-Forwarded-For is appended; the authenticated user replaces
X-Trino-User; run_gateway exits 2 naming the unknown key of a bad settings file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from gateway.cli import run_gateway
from gateway.edge import TrustedProxies
from gateway.forward import downstream_headers, upstream_headers


def _forward(headers: CIMultiDict[str], peer: str = "10.1.2.3", trusted: tuple[str, ...] = (), **kw: object) -> CIMultiDict[str]:
    request = make_mocked_request("POST", "/v1/statement", headers=headers)
    view = TrustedProxies(trusted).view(peer, "http", request.host, request.headers)
    return upstream_headers(request, view, **kw)  # type: ignore[arg-type]


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
    out = _forward(headers)
    assert "Connection" not in out and "Keep-Alive" not in out and "X-Secret-Hop" not in out
    assert "Transfer-Encoding" not in out and "Host" not in out
    assert out["Authorization"] == "Bearer abc" and out["X-Trino-User"] == "alice"
    assert out.getall("X-Trino-Session") == ["a=1", "b=2"]
    assert out["X-Forwarded-Host"] == "gw.example.com:8443"
    assert out["X-Forwarded-Proto"] == "http" and out["X-Forwarded-Port"] == "8443"
    assert out["X-Forwarded-For"] == "10.1.2.3"


_SPOOFED = [("Host", "gw.internal"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.example:443"),
            ("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=1.1.1.1;host=evil.example"),
            ("X-Forwarded-Prefix", "/evil"), ("X-API-Key", "k-123")]


def test_an_untrusted_clients_forwarded_headers_and_api_key_never_go_upstream() -> None:
    out = _forward(CIMultiDict(_SPOOFED))
    assert out["X-Forwarded-Host"] == "gw.internal" and out["X-Forwarded-Proto"] == "http"
    assert out["X-Forwarded-For"] == "10.1.2.3", "the client's own X-Forwarded-For is not believed"
    assert "Forwarded" not in out and "X-Forwarded-Prefix" not in out and "X-API-Key" not in out


def test_a_trusted_proxys_forwarded_headers_are_kept_and_for_is_appended() -> None:
    out = _forward(CIMultiDict(_SPOOFED), peer="10.0.0.5", trusted=("10.0.0.0/8",))
    assert out["X-Forwarded-Proto"] == "https" and out["X-Forwarded-Host"] == "evil.example:443"
    assert out["X-Forwarded-For"] == "203.0.113.7, 10.0.0.5"
    assert out["X-Forwarded-Prefix"] == "/evil" and "X-API-Key" not in out


def test_the_authenticated_user_replaces_x_trino_user_and_an_api_key_bearer_is_dropped() -> None:
    headers = CIMultiDict([("X-Trino-User", "alice"), ("X-Presto-User", "alice"), ("Authorization", "Bearer key")])
    out = _forward(headers, trino_user="svc_etl", drop_authorization=True)
    assert out["X-Trino-User"] == "svc_etl" and "X-Presto-User" not in out and "Authorization" not in out


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
