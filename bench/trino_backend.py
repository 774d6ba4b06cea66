"""A Trino statement-protocol backend for the gateway benchmark: pages from memory, as fast as the machine allows.

`bench/gateway.py` measures what a hop costs per request. Against the devstack's Trino emulator (SQL on
DuckDB) the backend answered 600-1,300 requests/s on 2 cores and took most of a core, so a paced 500
req/s run nearly saturated it and every hop's figures were mostly the backend's queueing and the
machine's contention. This backend answers the benchmark's two statements the way Trino does on the
wire (query ids of Trino's form, `queued` then `executing` nextUri pages, QUEUED/RUNNING/FINISHED stats,
`columns` and `data`, DELETE on a page cancels), with precomputed pages and an asyncio protocol, so the
hops are measured against a backend that costs little. It is a benchmark fixture, not an emulator:
anything but the two statements answers a Trino-style 400.

    python bench/trino_backend.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import string
import time

import httptools

__all__ = ["serve"]

LONG_ROWS = 20000
LONG_PAGE_ROWS = 200
_STATEMENTS = {"SELECT 1": 1, "SELECT x FROM UNNEST(sequence(1, 20000)) AS t(x)": LONG_ROWS // LONG_PAGE_ROWS}
"""Statement text -> data pages (bench/gateway.py's `SELECT 1` and LONG_SQL)."""


def _reply(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    reason = {200: b"OK", 204: b"No Content", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (status, reason, content_type, len(body)) + body)


class _Queries:
    def __init__(self, base: str) -> None:
        self.default_base = base
        self.base = base
        self.pages: dict[str, int] = {}
        self._seq = itertools.count()
        self._day = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
        self._suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        self._rows = [[1]]
        self._long_page = [[i] for i in range(LONG_PAGE_ROWS)]

    def start(self, sql: str) -> bytes:
        pages = _STATEMENTS.get(sql.strip().rstrip(";"))
        if pages is None:
            return _reply(400, b"Error 400 Bad Request: the benchmark backend answers only bench/gateway.py's statements",
                          b"text/plain")
        query_id = f"{self._day}_{next(self._seq) % 100000:05d}_{self._suffix}"
        self.pages[query_id] = pages
        page = {"id": query_id, "infoUri": f"{self.base}/ui/query.html?{query_id}",
                "nextUri": f"{self.base}/v1/statement/queued/{query_id}/y{query_id[-5:]}/1",
                "stats": {"state": "QUEUED", "queued": True, "scheduled": False, "nodes": 0}, "warnings": []}
        return _reply(200, json.dumps(page).encode())

    def page(self, query_id: str, phase: str, token: int) -> bytes:
        pages = self.pages.get(query_id)
        if pages is None:
            return _reply(404, b"Error 404 Not Found: Query not found", b"text/plain")
        page: dict[str, object] = {"id": query_id, "infoUri": f"{self.base}/ui/query.html?{query_id}"}
        if phase == "queued":
            page["nextUri"] = f"{self.base}/v1/statement/executing/{query_id}/y{query_id[-5:]}/0"
            page["stats"] = {"state": "RUNNING", "queued": False, "scheduled": True, "nodes": 1}
            page["warnings"] = []
            return _reply(200, json.dumps(page).encode())
        # Trino's order: nextUri before columns, data and stats (the gateway reads a page's head for it)
        if token + 1 < pages:
            page["nextUri"] = f"{self.base}/v1/statement/executing/{query_id}/y{query_id[-5:]}/{token + 1}"
        else:
            del self.pages[query_id]
        page["columns"] = [{"name": "_col0" if pages == 1 else "x", "type": "integer",
                            "typeSignature": {"rawType": "integer", "arguments": []}}]
        page["data"] = self._rows if pages == 1 else self._long_page
        page["stats"] = {"state": "RUNNING" if "nextUri" in page else "FINISHED", "queued": False, "scheduled": True,
                         "nodes": 1}
        page["warnings"] = []
        return _reply(200, json.dumps(page).encode())

    def cancel(self, query_id: str) -> bytes:
        self.pages.pop(query_id, None)
        return _reply(204, b"")


_FORWARDED = (b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port")

_INFO = _reply(200, json.dumps({"nodeVersion": {"version": "476"}, "environment": "bench", "coordinator": True,
                                "starting": False, "uptime": "1.00m"}).encode())


class _Connection(asyncio.Protocol):
    def __init__(self, queries: _Queries) -> None:
        self.queries = queries
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.forwarded: dict[bytes, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_reply(400, b"bad request", b"text/plain"))
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.body, self.forwarded = b"", [], {}

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered in _FORWARDED:
            self.forwarded[lowered] = value.decode("latin-1").split(",")[0].strip()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0].decode("ascii", "replace")
        parts = path.split("/")
        self.queries.base = self._base()
        if method == b"POST" and path == "/v1/statement":
            answer = self.queries.start(b"".join(self.body).decode("utf-8", "replace"))
        elif len(parts) == 7 and parts[1:3] == ["v1", "statement"] and parts[3] in ("queued", "executing"):
            if method == b"DELETE":
                answer = self.queries.cancel(parts[4])
            else:
                answer = self.queries.page(parts[4], parts[3], int(parts[6]) if parts[6].isdigit() else 0)
        elif path == "/v1/info":
            answer = _INFO
        else:
            answer = _reply(404, b"Error 404 Not Found", b"text/plain")
        self.transport.write(answer)
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _base(self) -> str:
        """Where the client reached us, as Trino's `http-server.process-forwarded` builds nextUri."""
        host = self.forwarded.get(b"x-forwarded-host")
        if not host:
            return self.queries.default_base
        proto = self.forwarded.get(b"x-forwarded-proto", "http")
        port = self.forwarded.get(b"x-forwarded-port")
        if port and ":" not in host.rsplit("]", 1)[-1]:
            host = f"{host}:{port}"
        return f"{proto}://{host}"


async def serve(host: str, port: int) -> None:
    """Answer on host:port until cancelled."""
    queries = _Queries(f"http://{host}:{port}")
    server = await asyncio.get_running_loop().create_server(lambda: _Connection(queries), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
