"""Watch through the official client's `watch` module (typed and custom objects).

Checks ADDED for RV 0, resume from a resourceVersion with nothing lost or doubled, DELETED with
the last state, selectors (leaving the selection looks like DELETED), timeoutSeconds, BOOKMARKs,
WatchList (sendInitialEvents + initial-events-end bookmark), and 410 Expired for a compacted RV.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiException

from devstack.kubeapi import KubeApiSettings, ThreadedKubeApiServer


def _events(core: client.CoreV1Api, namespace: str, count: int = 0, **kw: object) -> list[tuple[str, str, str]]:
    """(type, name, data.v) of the events seen; stops after `count` (else at the 1 s timeout)."""
    w = watch.Watch()
    out = []
    for ev in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5 if count else 1, **kw):
        obj = ev["object"]
        if ev["type"] == "BOOKMARK":
            out.append(("BOOKMARK", "", obj["metadata"]["resourceVersion"]))
        else:
            out.append((ev["type"], obj.metadata.name, (obj.data or {}).get("v", "")))
        if len(out) == count:
            w.stop()
    return out


def test_watch_from_zero_lists_existing_objects_as_added(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    assert _events(core, namespace, 2, resource_version="0") == [("ADDED", "a", ""), ("ADDED", "b", "")]


def test_watch_resumes_from_resource_version_without_loss_or_duplicates(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w"}, "data": {"v": "0"}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    for i in range(1, 4):
        core.patch_namespaced_config_map("w", namespace, {"data": {"v": str(i)}})
    first = _events(core, namespace, 3, resource_version=rv)
    assert first == [("MODIFIED", "w", "1"), ("MODIFIED", "w", "2"), ("MODIFIED", "w", "3")]
    resume_at = core.read_namespaced_config_map("w", namespace).metadata.resource_version
    core.patch_namespaced_config_map("w", namespace, {"data": {"v": "4"}})
    core.delete_namespaced_config_map("w", namespace)
    second = _events(core, namespace, 2, resource_version=resume_at)
    assert second == [("MODIFIED", "w", "4"), ("DELETED", "w", "4")]


def test_live_events_arrive_while_watching(core: client.CoreV1Api, namespace: str) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[str] = []
    w = watch.Watch()

    def writer() -> None:
        time.sleep(0.2)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "live"}})

    t = threading.Thread(target=writer)
    t.start()
    for ev in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5):
        seen.append(f"{ev['type']} {ev['object'].metadata.name}")
        w.stop()
    t.join()
    assert seen == ["ADDED live"]


def test_watch_applies_label_selector_to_old_and_new_state(core: client.CoreV1Api, namespace: str) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "s", "labels": {"team": "a"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "other", "labels": {"team": "b"}}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"team": "b"}}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"team": "a"}}})
    got = _events(core, namespace, 3, resource_version=rv, label_selector="team=a")
    assert [(t, n) for t, n, _ in got] == [("ADDED", "s"), ("DELETED", "s"), ("ADDED", "s")]
    by_field = _events(core, namespace, 1, resource_version=rv, field_selector="metadata.name=other")
    assert [(t, n) for t, n, _ in by_field] == [("ADDED", "other")]


def test_watch_ends_after_timeout_seconds(core: client.CoreV1Api, namespace: str) -> None:
    started = time.monotonic()
    assert _events(core, namespace, resource_version="0") == []
    assert 0.9 <= time.monotonic() - started < 3


def test_watch_list_sends_initial_events_then_end_bookmark(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "w"}})
    w = watch.Watch()
    events = list(w.stream(
        core.list_namespaced_config_map, namespace, send_initial_events=True, allow_watch_bookmarks=True,
        resource_version_match="NotOlderThan", timeout_seconds=1,
    ))
    # kube-apiserver may add a periodic BOOKMARK of its own before the timeout.
    assert [e["type"] for e in events][:2] == ["ADDED", "BOOKMARK"]
    assert {e["type"] for e in events[2:]} <= {"BOOKMARK"}
    assert events[0]["object"].metadata.uid == made.metadata.uid
    bookmark = events[1]["object"]
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(made.metadata.resource_version)


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.CoreV1Api]:
    """A second server keeping only 3 events and sending bookmarks every 0.2 s."""
    settings = KubeApiSettings(history_limit=3, bookmark_interval=timedelta(seconds=0.2))
    with ThreadedKubeApiServer(settings=settings) as server:
        path: Path = server.write_kubeconfig(tmp_path_factory.mktemp("small") / "kubeconfig")
        api = config.new_client_from_config(config_file=str(path))
        yield client.CoreV1Api(api)
        api.close()


def test_too_old_resource_version_is_410_expired(small_history: client.CoreV1Api) -> None:
    core = small_history
    old_rv = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"x{i}"}})
    w = watch.Watch()
    with pytest.raises(ApiException) as e:
        list(w.stream(core.list_namespaced_config_map, "default", resource_version=old_rv, timeout_seconds=1))
    assert e.value.status == 410
    assert "too old resource version" in e.value.reason
    fresh = core.list_namespaced_config_map("default").metadata.resource_version
    assert _events(core, "default", resource_version=fresh) == []


def test_bookmarks_are_sent_only_when_allowed(small_history: client.CoreV1Api) -> None:
    rv = small_history.list_namespaced_config_map("default").metadata.resource_version
    with_bookmarks = _events(small_history, "default", 2, resource_version=rv, allow_watch_bookmarks=True)
    assert with_bookmarks == [("BOOKMARK", "", rv), ("BOOKMARK", "", rv)]
    assert _events(small_history, "default", resource_version=rv) == []

