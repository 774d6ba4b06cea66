"""Watch streams: replay from a resourceVersion, live events, bookmarks, WatchList and 410 Expired.

One JSON event per line over a chunked 200 reply, as client-go and the Python watch module read it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import tables
from .cluster import Cluster
from .errors import bad_request, expired
from .resources import ResourceType
from .selectors import Selection
from .store import Event

JsonDict = dict[str, Any]

_POLL_SECONDS = 1.0  # how often an idle stream checks for a gone client


@dataclass(frozen=True)
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    selection: Selection
    resource_version: str
    timeout_seconds: float
    bookmarks: bool
    send_initial_events: bool
    as_table: bool = False


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def parse_watch(
    rt: ResourceType, namespace: str | None, selection: Selection, query: Any, max_seconds: float,
    as_table: bool = False,
) -> WatchRequest:
    raw_timeout = query.get("timeoutSeconds")
    try:
        timeout = float(raw_timeout) if raw_timeout else max_seconds
    except ValueError as e:
        raise bad_request(f"timeoutSeconds must be a number of seconds, got {raw_timeout!r}") from e
    rv = query.get("resourceVersion", "")
    if rv and not rv.isdigit():
        raise bad_request(f"resourceVersion must be a decimal number, got {rv!r}; pass one from a list or event")
    return WatchRequest(
        rt=rt,
        namespace=namespace,
        selection=selection,
        resource_version=rv,
        timeout_seconds=min(timeout, max_seconds) if timeout > 0 else max_seconds,
        bookmarks=_flag(query.get("allowWatchBookmarks")),
        send_initial_events=_flag(query.get("sendInitialEvents")),
        as_table=as_table,
    )


def _in_scope(w: WatchRequest, obj: JsonDict | None) -> bool:
    if obj is None:
        return False
    if w.namespace is not None and (obj.get("metadata") or {}).get("namespace") != w.namespace:
        return False
    return w.selection.matches(obj)


def translate(w: WatchRequest, event: Event) -> str | None:
    """The event type this watcher sees, given selectors on both old and new state (or None)."""
    now_in = _in_scope(w, event.obj)
    if event.type == "DELETED":
        return "DELETED" if now_in else None
    was_in = event.type == "MODIFIED" and _in_scope(w, event.old)
    if now_in:
        return "MODIFIED" if was_in else "ADDED"
    return "DELETED" if was_in else None


class _Writer:
    def __init__(self, response: web.StreamResponse, cluster: Cluster, rt: ResourceType, as_table: bool) -> None:
        self.response = response
        self.cluster = cluster
        self.rt = rt
        self.as_table = as_table

    async def send(self, kind: str, obj: JsonDict) -> None:
        line = json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n"
        await self.response.write(line.encode())

    async def event(self, kind: str, obj: JsonDict) -> None:
        shown = self.cluster.present(self.rt, obj)
        if self.as_table:  # `kubectl get -w` asked for Tables: one row per event, like the apiserver
            shown = tables.table(self.rt, [shown], {"resourceVersion": obj["metadata"]["resourceVersion"]})
        await self.send(kind, shown)

    async def bookmark(self, rv: int, initial_end: bool = False) -> None:
        meta: JsonDict = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        await self.send("BOOKMARK", {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": meta})


async def stream(request: web.Request, cluster: Cluster, w: WatchRequest, bookmark_interval: float) -> web.StreamResponse:
    """Serve one watch until timeout, client disconnect or server shutdown."""
    store = cluster.store
    gr = w.rt.group_resource
    initial: list[JsonDict] = []
    if w.send_initial_events or w.resource_version in ("", "0"):
        initial = [o for o in store.objects(gr, w.namespace) if w.selection.matches(o)]
        since = store.rv
    else:
        since = int(w.resource_version)
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    writer = _Writer(response, cluster, w.rt, w.as_table)
    try:
        backlog, sub = store.subscribe(gr, since)
    except LookupError:
        await response.prepare(request)
        await writer.send("ERROR", expired(since, store.oldest_replayable).status())
        await response.write_eof()
        return response
    try:
        await response.prepare(request)
        for obj in initial:
            await writer.event("ADDED", obj)
        if w.send_initial_events:
            await writer.bookmark(since, initial_end=True)
        for event in backlog:
            kind = translate(w, event)
            if kind:
                await writer.event(kind, event.obj)
        await _live(request, writer, sub.queue, w, bookmark_interval)
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        store.unsubscribe(sub)
    return response


async def _live(
    request: web.Request, writer: _Writer, queue: asyncio.Queue[Event | None], w: WatchRequest,
    bookmark_interval: float,
) -> None:
    deadline = time.monotonic() + w.timeout_seconds
    next_bookmark = time.monotonic() + bookmark_interval
    while True:
        now = time.monotonic()
        if now >= deadline:
            return
        if w.bookmarks and now >= next_bookmark and queue.empty():
            # only with nothing queued: the bookmark promises every earlier event was delivered
            await writer.bookmark(writer.cluster.store.rv)
            next_bookmark = now + bookmark_interval
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        wait = min(deadline - now, _POLL_SECONDS, max(next_bookmark - now, 0.01) if w.bookmarks else _POLL_SECONDS)
        try:
            event = await asyncio.wait_for(queue.get(), timeout=wait)
        except TimeoutError:
            continue
        if event is None:
            return
        kind = translate(w, event)
        if kind:
            await writer.event(kind, event.obj)
