"""The access log: one JSON line per request, written in batches.

A proxied request must not pay for the logging framework (record objects, caller lookup) nor for a
write of its own: `AccessLog.line` formats the line and queues it; the queue goes out in one write
every `interval` (or at `batch` lines, or on close). The lines have the shape of the process's JSON
logs (`ts`, `level`, `logger` = `xtrinode.gateway.access`, `message`, fields) and never hold a token,
a key or SQL text: callers pass only the fields listed in app.py.
"""

from __future__ import annotations

import asyncio
import json
from json.encoder import encode_basestring_ascii
import sys
import time
from typing import Any, TextIO

__all__ = ["ACCESS_LOGGER", "AccessLog"]

ACCESS_LOGGER = "xtrinode.gateway.access"

_ENCODER = json.JSONEncoder(default=str, separators=(", ", ": "))
"""What json.dumps(..., default=str, separators=...) builds on every call, built once."""


def _str(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


class AccessLog:
    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2, batch: int = 512) -> None:
        self._stream = stream
        self._interval = interval
        self._batch = batch
        self._lines: list[str] = []
        self._handle: asyncio.TimerHandle | None = None
        self._second = -1
        self._prefix = ""

    def _stamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int(now * 1000) % 1000:03d}+00:00"

    def line(self, message: str, fields: dict[str, Any]) -> None:
        body = {"ts": self._stamp(), "level": "INFO", "logger": ACCESS_LOGGER, "message": message}
        body.update(fields)
        self._queue(_ENCODER.encode(body))

    def request(self, method: str, path: str | None, status: int, duration_ms: float, principal: str | None,
                runtime: str | None, query_id: str | None, client: str | None, refused: str | None = None) -> None:
        """The line of one request: what `line` writes for these fields, formatted directly (a third of the
        cost of encoding a dict; every proxied request pays it)."""
        enc = encode_basestring_ascii  # inline: a call of _str per field costs more than its work
        message = enc(f"{method} {path or '<refused>'} {status}")
        text = (f'{{"ts": "{self._stamp()}", "level": "INFO", "logger": "{ACCESS_LOGGER}", "message": {message}, '
                f'"principal": {"null" if principal is None else enc(principal)}, '
                f'"runtime": {"null" if runtime is None else enc(runtime)}, "method": {enc(method)}, '
                f'"path": {"null" if path is None else enc(path)}, "status": {status}, '
                f'"duration_ms": {float.__repr__(duration_ms)}, "query_id": {"null" if query_id is None else enc(query_id)}, '
                f'"client": {"null" if client is None else enc(client)}')
        self._queue(f'{text}, "refused": {_str(refused)}}}' if refused else text + "}")

    def _queue(self, text: str) -> None:
        self._lines.append(text)
        if len(self._lines) >= self._batch:
            self.flush()
        elif self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        stream = self._stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass  # stderr closed at shutdown: nothing left to tell
