"""Object storage: one global resourceVersion counter, a bounded event history, JSON persistence.

Stored objects are never mutated in place: every write stores a new dict, so readers may share them.
All methods are synchronous; the server runs on one event loop, so each verb is atomic.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]
GroupResource = tuple[str, str]
ObjectKey = tuple[str, str]  # (namespace or "", name)

STATE_FORMAT = 1


@dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, at resourceVersion `rv`."""

    rv: int
    type: str
    group_resource: GroupResource
    obj: JsonDict
    old: JsonDict | None = None


@dataclass(eq=False)
class Subscription:
    """A watcher's queue; `None` in the queue means the server is shutting down."""

    group_resource: GroupResource
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)


def key_of(obj: JsonDict) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


class Store:
    """All objects by group/resource, plus the history watches replay from."""

    def __init__(self, history_limit: int = 5000) -> None:
        self.rv = 0
        self._objects: dict[GroupResource, dict[ObjectKey, JsonDict]] = {}
        self._uids: dict[str, tuple[GroupResource, ObjectKey]] = {}
        self._history: deque[Event] = deque(maxlen=history_limit)
        self._compacted = 0  # events at or below this RV are no longer kept
        self._subscriptions: set[Subscription] = set()
        self.allocations: dict[str, int] = {}
        """Allocator counters (the Service ClusterIP range); saved with the objects, like etcd keeps them."""

    # ---- reading -----------------------------------------------------------------------------

    def get(self, gr: GroupResource, namespace: str, name: str) -> JsonDict | None:
        return self._objects.get(gr, {}).get((namespace, name))

    def objects(self, gr: GroupResource, namespace: str | None = None) -> list[JsonDict]:
        """Objects of a kind (in one namespace when given), sorted by namespace then name."""
        objs = self._objects.get(gr, {})
        keys = sorted(k for k in objs if namespace is None or k[0] == namespace)
        return [objs[k] for k in keys]

    def by_uid(self, uid: str) -> tuple[GroupResource, JsonDict] | None:
        found = self._uids.get(uid)
        if found is None:
            return None
        obj = self._objects.get(found[0], {}).get(found[1])
        return (found[0], obj) if obj is not None else None

    def all_objects(self) -> Iterator[tuple[GroupResource, JsonDict]]:
        for gr, objs in list(self._objects.items()):
            for obj in list(objs.values()):
                yield gr, obj

    def in_namespace(self, namespace: str) -> list[tuple[GroupResource, JsonDict]]:
        return [(gr, o) for gr, o in self.all_objects() if key_of(o)[0] == namespace]

    # ---- writing -----------------------------------------------------------------------------

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, gr: GroupResource, obj: JsonDict) -> JsonDict:
        """Store `obj` (its metadata.resourceVersion already set) and emit ADDED or MODIFIED."""
        key = key_of(obj)
        objs = self._objects.setdefault(gr, {})
        old = objs.get(key)
        objs[key] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[uid] = (gr, key)
        rv = int(obj["metadata"]["resourceVersion"])
        self._emit(Event(rv, "MODIFIED" if old is not None else "ADDED", gr, obj, old))
        return obj

    def remove(self, gr: GroupResource, obj: JsonDict) -> JsonDict:
        """Remove the object; watchers see DELETED carrying its last state at a new RV."""
        key = key_of(obj)
        old = self._objects.get(gr, {}).pop(key, None)
        if old is None:
            return obj
        self._uids.pop(old["metadata"].get("uid", ""), None)
        last = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self.next_rv())}}
        self._emit(Event(self.rv, "DELETED", gr, last, old))
        return last

    # ---- watching ----------------------------------------------------------------------------

    @property
    def oldest_replayable(self) -> int:
        """The lowest RV a watch may resume from."""
        return self._compacted

    def subscribe(self, gr: GroupResource, since: int) -> tuple[list[Event], Subscription]:
        """Events after `since` plus a queue of live ones, taken atomically (nothing lost or doubled).

        Raises `LookupError` when `since` is older than the kept history.
        """
        if since < self._compacted:
            raise LookupError(since)
        backlog = [e for e in self._history if e.rv > since and e.group_resource == gr]
        sub = Subscription(gr)
        self._subscriptions.add(sub)
        return backlog, sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def close_subscriptions(self) -> None:
        for sub in list(self._subscriptions):
            sub.queue.put_nowait(None)

    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(event)
        for sub in self._subscriptions:
            if sub.group_resource == event.group_resource:
                sub.queue.put_nowait(event)

    # ---- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write every object and the counter to `path` atomically (temp file, then rename)."""
        data = {
            "format": STATE_FORMAT,
            "resourceVersion": self.rv,
            "allocations": dict(self.allocations),
            "objects": [
                {"group": gr[0], "resource": gr[1], "object": obj} for gr, obj in self.all_objects()
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        """Read a state file written by `save`; watches cannot resume from before the restart."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(
                f"cannot read kubeapi state file {str(path)!r}: {e}; delete it to start empty"
            ) from e
        if data.get("format") != STATE_FORMAT:
            raise ValueError(
                f"kubeapi state file {str(path)!r} has format {data.get('format')!r}, expected "
                f"{STATE_FORMAT}; delete it to start empty"
            )
        self._objects.clear()
        self._uids.clear()
        self._history.clear()
        for entry in data["objects"]:
            gr = (entry["group"], entry["resource"])
            obj = entry["object"]
            self._objects.setdefault(gr, {})[key_of(obj)] = obj
            uid = obj["metadata"].get("uid")
            if uid:
                self._uids[uid] = (gr, key_of(obj))
        self.rv = int(data["resourceVersion"])
        self._compacted = self.rv
        # State files written before allocations were saved have none: the allocator then skips
        # the addresses the stored Services hold.
        self.allocations = {str(k): int(v) for k, v in (data.get("allocations") or {}).items()}
