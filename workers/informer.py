"""A small informer: list, then watch from the list's resourceVersion, re-list on 410 and on every
resync period, feeding (event type, object) pairs to an asyncio queue; after each list's items comes a
(`LISTED`, {}) pair, so a consumer knows in queue order when it has seen everything once. The official client is
blocking, so each informer runs its loop in a thread; `stop()` ends it within one watch timeout.

A re-list (after 410 Gone, an error or the resync period) also emits DELETED for every object it
had seen that the new list lacks: deletions made while the watch was down are not lost."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from prometheus_client import Counter

__all__ = ["Informer", "Event", "LISTED"]

INFORMER_LISTS = Counter(
    "xtrinode_informer_lists_total",
    "Full lists (the first, each resync and each re-list after a watch error), by informer: xtrinodes, "
    "catalogs, secrets (operator), deployments (lifecycle worker).",
    ["informer"],
)
INFORMER_WATCH_ERRORS = Counter(
    "xtrinode_informer_watch_errors_total",
    "Watches that ended in an error and re-listed, by informer and reason (gone: 410, api: another HTTP "
    "status, error: anything else).",
    ["informer", "reason"],
)

log = logging.getLogger("xtrinode.informer")
Event = tuple[str, dict[str, Any]]
LISTED = "LISTED"
"""Event type queued after the items of every list (the first one and each re-list)."""


class Informer:
    """`list_fn(**kw)` must accept `resource_version`, `timeout_seconds` and `watch` like the client's list calls."""

    def __init__(self, name: str, list_fn: Callable[..., Any], queue: asyncio.Queue[tuple[str, Event]],
                 loop: asyncio.AbstractEventLoop, *, resync_seconds: float = 300, watch_timeout: int = 5,
                 ident: str | None = None) -> None:
        self.name = name
        self.ident = ident or name
        """Names this informer in its LISTED events (several informers may share a `name`)."""
        self.list_fn = list_fn
        self.queue = queue
        self.loop = loop
        self.resync_seconds = resync_seconds
        self.watch_timeout = watch_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"informer-{name}", daemon=True)
        self.synced = threading.Event()
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        """The last state seen of each object, by (namespace, name): what a re-list compares against."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _put(self, kind: str, obj: dict[str, Any]) -> None:
        if kind != LISTED:
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            if kind == "DELETED":
                self._known.pop(key, None)
            else:
                self._known[key] = obj
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (self.name, (kind, obj)))

    def _list(self) -> str:
        listing = self.list_fn(_preload_content=False)
        import json

        try:
            body = json.loads(listing.data)
        finally:
            listing.release_conn()
        items = body.get("items") or []
        INFORMER_LISTS.labels(self.name).inc()
        listed = {(str((i.get("metadata") or {}).get("namespace") or ""), str((i.get("metadata") or {}).get("name") or ""))
                  for i in items}
        for key in [k for k in self._known if k not in listed]:
            log.info("informer %s: %s/%s is gone since the last list or watch event", self.name, *key)
            self._put("DELETED", self._known[key])
        for item in items:
            self._put("SYNC", item)
        self._put(LISTED, {"informer": self.ident})
        self.synced.set()
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _run(self) -> None:
        import time

        while not self._stop.is_set():
            try:
                version = self._list()
                listed_at = time.monotonic()
                while not self._stop.is_set() and time.monotonic() - listed_at < self.resync_seconds:
                    w = watch.Watch()  # type: ignore[no-untyped-call]
                    events = w.stream(self.list_fn, resource_version=version,  # type: ignore[no-untyped-call]
                                      timeout_seconds=self.watch_timeout, allow_watch_bookmarks=True)
                    for event in events:
                        raw = event.get("raw_object") or {}
                        version = str((raw.get("metadata") or {}).get("resourceVersion") or version)
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            self._put(str(event["type"]), raw)
                        if self._stop.is_set():
                            w.stop()  # type: ignore[no-untyped-call]
                            break
            except ApiException as e:
                if e.status == 410:  # the resourceVersion is too old (compacted): list again at once
                    INFORMER_WATCH_ERRORS.labels(self.name, "gone").inc()
                    log.info("informer %s: watch expired (410 Gone); re-listing", self.name)
                else:
                    INFORMER_WATCH_ERRORS.labels(self.name, "api").inc()
                    log.warning("informer %s: %s %s; re-listing", self.name, e.status, e.reason)
                    self._stop.wait(1.0)
            except Exception as e:  # the loop must survive API hiccups; it re-lists
                INFORMER_WATCH_ERRORS.labels(self.name, "error").inc()
                log.warning("informer %s: %s: %s; re-listing", self.name, type(e).__name__, str(e)[:200])
                self._stop.wait(1.0)
