"""An OIDC identity provider on loopback for tests: discovery and JWKS served by a plain HTTP server in a
thread (so processes and blocking clients can fetch from it while the test's event loop waits), and
RS256 tokens signed with its published keys.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "trino"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class IdP:
    """Discovery at `<issuer>/.well-known/openid-configuration`, JWKS at `/jwks`; `keys` by kid."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {"k1": new_key()}
        self.url = ""
        self.jwks_fetches = 0

    @property
    def issuer(self) -> str:
        return f"{self.url}/realm"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def token(self, sub: str = "alice", kid: str = "k1", key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        """A token from this issuer for AUDIENCE; `key` signs with another key (a forgery)."""
        now = int(time.time())
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600, **claims}
        return jwt.encode(body, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def document(self, path: str) -> Any:
        if path == "/realm/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": self.jwks_url}
        if path == "/jwks":
            self.jwks_fetches += 1
            keys = [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}
                    for kid, key in self.keys.items()]
            return {"keys": keys}
        return None


@contextmanager
def serving_idp() -> Iterator[IdP]:
    provider = IdP()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = provider.document(self.path)
            data = json.dumps(body).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="test-idp", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
