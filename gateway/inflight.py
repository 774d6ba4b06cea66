"""In-flight and held queries per runtime on this replica: the KEDA and autosuspend demand signal.

A forwarded query counts from its POST until its last page (no nextUri), a cancel, a 404/410, or no
poll for `inflight.idleAfter`; held statements count separately (`state="held"`).
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

from gateway.metrics import GatewayMetrics
from xtrinode.models.routes import RouteEntry

__all__ = ["InflightTracker", "decoded_head", "page_has_next"]


@dataclass(slots=True)
class _Query:
    route_key: str
    labels: tuple[str, str, str]
    last_seen: float


def _labels(entry: RouteEntry) -> tuple[str, str, str]:
    return entry.namespace, entry.name, entry.routing_group


_PAGE_KEY = re.compile(rb'"(nextUri|columns|data|stats)"')


def page_has_next(head: bytes) -> bool | None:
    """Whether a QueryResults page (its first bytes, uncompressed) has a nextUri; None when undecided.

    Trino writes `nextUri` before `columns`, `data` and `stats`, so the head of the page decides
    without parsing the rows: the first of these keys is `nextUri` when there is one.
    """
    first = _PAGE_KEY.search(head)
    if first is None:
        return None
    return first[1] == b"nextUri"


def decoded_head(chunk: bytes, content_encoding: str | None, limit: int = 4096) -> bytes | None:
    """The first bytes of a body as JSON text: identity as is, gzip/deflate inflated; None for other codings."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return chunk
    if encoding not in ("gzip", "deflate"):
        return None
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept a gzip or zlib header
        return inflater.decompress(chunk, limit)
    except zlib.error:
        return None


class InflightTracker:
    """Counts per runtime, mirrored into `xtrinode_gateway_inflight_queries`."""

    def __init__(self, metrics: GatewayMetrics, idle_after: float) -> None:
        self._metrics = metrics
        self._idle_after = idle_after
        self._queries: dict[str, _Query] = {}
        self._running: dict[str, int] = {}
        self._held: dict[str, int] = {}
        self._children: dict[tuple[str, str, str, str], Any] = {}

    def _gauge(self, labels: tuple[str, str, str], state: str, value: int) -> None:
        key = (*labels, state)
        child = self._children.get(key)
        if child is None:  # labelled children are cached: labels() costs more than set() on the hot path
            child = self._children[key] = self._metrics.inflight.labels(*key)
        child.set(value)

    def start(self, query_id: str, entry: RouteEntry) -> None:
        if query_id in self._queries:
            self.touch(query_id)
            return
        labels = _labels(entry)
        self._queries[query_id] = _Query(entry.key, labels, time.monotonic())
        count = self._running[entry.key] = self._running.get(entry.key, 0) + 1
        self._gauge(labels, "running", count)

    def touch(self, query_id: str) -> None:
        found = self._queries.get(query_id)
        if found is not None:
            found.last_seen = time.monotonic()

    def end(self, query_id: str) -> None:
        found = self._queries.pop(query_id, None)
        if found is None:
            return
        count = self._running[found.route_key] = max(0, self._running.get(found.route_key, 0) - 1)
        self._gauge(found.labels, "running", count)

    def held_changed(self, entry: RouteEntry, delta: int) -> None:
        count = self._held[entry.key] = max(0, self._held.get(entry.key, 0) + delta)
        self._gauge(_labels(entry), "held", count)

    def running(self, route_key: str) -> int:
        return self._running.get(route_key, 0)

    def held(self, route_key: str) -> int:
        return self._held.get(route_key, 0)

    def reap(self) -> int:
        """Forget queries nobody polled for `idle_after`; returns how many."""
        cutoff = time.monotonic() - self._idle_after
        idle = [q for q, v in self._queries.items() if v.last_seen < cutoff]
        for query_id in idle:
            self.end(query_id)
        return len(idle)
