"""The kubelet's list+watch loop against a scripted fake of the official client's list call: it lists,
watches from the list's resourceVersion, continues from the last event's version, re-lists when the
watch answers 410 Gone, and `stop()` ends its thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from devstack.kubelet.watcher import WatchEvent, Watcher


class _Response:
    """Just what `watch.Watch.stream` and `Watcher._list` use of a urllib3 response."""

    status = 200

    def __init__(self, body: Any = None, events: list[dict[str, Any]] | None = None) -> None:
        self.data = json.dumps(body).encode() if body is not None else b""
        self._events = events or []

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        for event in self._events:
            yield (json.dumps(event) + "\n").encode()
        time.sleep(0.01)

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def _pod(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}}


GONE = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                    "message": "too old resource version: 5 (7)"}}


class _FakeList:
    """Two lists (RV 5, then RV 9); the first watch is expired, the second delivers one ADDED."""

    def __init__(self) -> None:
        self.lists = [_Response({"metadata": {"resourceVersion": "5"}, "items": [_pod("a", "5")]}),
                      _Response({"metadata": {"resourceVersion": "9"}, "items": [_pod("b", "9")]})]
        self.watches = [_Response(events=[GONE]), _Response(events=[{"type": "ADDED", "object": _pod("c", "10")}])]
        self.watch_versions: list[str] = []

    def __call__(self, **kwargs: Any) -> _Response:
        if kwargs.get("watch"):
            self.watch_versions.append(kwargs["resource_version"])
            return self.watches.pop(0) if self.watches else _Response()
        return self.lists.pop(0)


def test_watcher_relists_on_410_and_watches_from_the_latest_version() -> None:
    events: list[WatchEvent] = []
    seen = threading.Event()

    def emit(event: WatchEvent) -> None:
        events.append(event)
        if event.type == "ADDED":
            seen.set()

    fake = _FakeList()
    watcher = Watcher("pods", fake, emit, resync_seconds=60, retry_seconds=0.01)
    watcher.start()
    try:
        assert seen.wait(5), f"no ADDED event; got {events}"
        deadline = time.monotonic() + 5
        while len(fake.watch_versions) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        watcher.stop()
    assert [(e.type, e.version) for e in events[:2]] == [("RELIST", 5), ("RELIST", 9)]
    assert [o["metadata"]["name"] for o in events[1].items] == ["b"]
    assert events[2].type == "ADDED" and events[2].obj is not None and events[2].obj["metadata"]["name"] == "c"
    assert fake.watch_versions[:3] == ["5", "9", "10"], "watch from the list's version, then from the last event"
    assert not any(t.name == "kubelet-watch-pods" for t in threading.enumerate())
