"""List+watch of one resource kind with the official client, in a thread, feeding the kubelet's loop.

Lists, then watches from the list's resourceVersion; re-lists on 410 Gone and every resync period.
`stop()` shuts the watch socket down so the thread ends at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from .objects import JsonDict

__all__ = ["WatchEvent", "Watcher"]

log = logging.getLogger("devstack.kubelet.watch")

EventType = Literal["ADDED", "MODIFIED", "DELETED", "RELIST"]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: str
    type: EventType
    obj: JsonDict | None = None
    items: list[JsonDict] = field(default_factory=list)
    """RELIST only: every object, replacing what the kubelet knew of this kind."""
    version: int = 0
    """RELIST only: the list's resourceVersion (anything newer that the kubelet knows is kept)."""


class Watcher:
    """One thread: list, emit RELIST, watch and emit events until `stop()`."""

    def __init__(
        self,
        kind: str,
        list_fn: Callable[..., Any],
        emit: Callable[[WatchEvent], None],
        *,
        resync_seconds: float,
        list_kwargs: dict[str, Any] | None = None,
        retry_seconds: float = 1.0,
    ) -> None:
        self.kind = kind
        self._list_fn = list_fn
        self._emit = emit
        self._resync = resync_seconds
        self._kwargs = dict(list_kwargs or {})
        self._retry = retry_seconds
        self._stopping = threading.Event()
        self._watch: watch.Watch | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"kubelet-watch-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            with self._lock:
                if self._watch is not None:
                    self._watch.stop()  # type: ignore[no-untyped-call]
            self._thread.join(0.05)
        if self._thread.is_alive():
            raise RuntimeError(f"the {self.kind} watch thread did not stop within {timeout}s")

    def _list(self) -> str:
        response = self._list_fn(_preload_content=False, **self._kwargs)
        try:
            listing = json.loads(response.data)
        finally:
            response.release_conn()
        version = str(listing["metadata"]["resourceVersion"])
        self._emit(WatchEvent(self.kind, "RELIST", items=list(listing.get("items") or []), version=int(version)))
        return version

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                version = self._list()
                relist_at = time.monotonic() + self._resync
                while not self._stopping.is_set() and (remaining := relist_at - time.monotonic()) > 0:
                    version = self._watch_once(version, max(1, int(remaining)))
            except ApiException as e:
                if self._stopping.is_set():
                    return
                if e.status != 410:
                    log.warning("watch failed; retrying", extra={"kind": self.kind, "status": e.status,
                                                                "reason": str(e.reason)[:200]})
                    self._stopping.wait(self._retry)
            except Exception as e:  # connection reset, server restarting: list again after a pause
                if self._stopping.is_set():
                    return
                log.warning("watch failed; retrying", extra={"kind": self.kind, "error": f"{type(e).__name__}: {e}"[:200]})
                self._stopping.wait(self._retry)

    def _watch_once(self, version: str, timeout_seconds: int) -> str:
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        with self._lock:
            if self._stopping.is_set():
                return version
            self._watch = stream
        try:
            for event in stream.stream(  # type: ignore[no-untyped-call]
                lambda **kw: self._list_fn(**kw), resource_version=version, timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True, **self._kwargs,
            ):
                obj = event.get("raw_object") or {}
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    self._emit(WatchEvent(self.kind, event["type"], obj=obj))
                if self._stopping.is_set():
                    break
        finally:
            with self._lock:
                self._watch = None
        return version
