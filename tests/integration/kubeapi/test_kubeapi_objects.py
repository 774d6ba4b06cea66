"""Object semantics through the official client: create/get/list, selectors, paging, errors, PUT.

Checks uid/RV/creationTimestamp, the one global RV counter, 404/409/422 Status replies, label and
field selectors, limit/continue, stale-RV 409 on replace and patch, delete preconditions, dry run,
generation rules, status and scale subresources, 20 concurrent retry-on-conflict writers losing no
increment, Leases, core and events.k8s.io Events, EndpointSlices, built-in spec validation,
immutable fields, and 400 for fields of the wrong JSON type.
"""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client
from kubernetes.client import ApiException


def _cm(name: str, labels: dict[str, str] | None = None, data: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data or {}}


def test_create_sets_uid_resource_version_and_timestamp(core: client.CoreV1Api, namespace: str) -> None:
    a = core.create_namespaced_config_map(namespace, _cm("a"))
    b = core.create_namespaced_config_map(namespace, _cm("b"))
    assert a.metadata.uid and a.metadata.uid != b.metadata.uid
    assert a.metadata.creation_timestamp is not None
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    assert a.metadata.namespace == namespace
    got = core.read_namespaced_config_map("a", namespace)
    assert got.metadata.resource_version == a.metadata.resource_version


def test_resource_version_is_one_counter_across_kinds(core: client.CoreV1Api, namespace: str) -> None:
    cm = core.create_namespaced_config_map(namespace, _cm("one"))
    secret = core.create_namespaced_secret(namespace, {"metadata": {"name": "two"}, "stringData": {"k": "v"}})
    assert int(secret.metadata.resource_version) > int(cm.metadata.resource_version)  # other writers may come between
    assert secret.data == {"k": "dg=="}
    listing = core.list_namespaced_config_map(namespace)
    assert int(listing.metadata.resource_version) >= int(secret.metadata.resource_version)


def test_missing_object_is_404_status(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("nope", namespace)
    assert e.value.status == 404
    status = json.loads(e.value.body)
    assert status["kind"] == "Status" and status["reason"] == "NotFound"
    assert status["message"] == 'configmaps "nope" not found'


def test_create_in_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("no-such-ns", _cm("a"))
    assert e.value.status == 404
    assert json.loads(e.value.body)["message"] == 'namespaces "no-such-ns" not found'


def test_duplicate_create_is_409_already_exists(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, _cm("dup"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(namespace, _cm("dup"))
    assert e.value.status == 409
    assert json.loads(e.value.body)["reason"] == "AlreadyExists"


def test_invalid_name_is_422_naming_metadata_name(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(namespace, _cm("Not_Valid"))
    assert e.value.status == 422
    status = json.loads(e.value.body)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_generate_name_gets_a_suffix(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == len("gen-") + 5


def test_label_and_field_selectors_filter_lists(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, _cm("web", {"app": "web", "tier": "front"}))
    core.create_namespaced_config_map(namespace, _cm("db", {"app": "db", "tier": "back"}))
    core.create_namespaced_config_map(namespace, _cm("bare"))

    def names(**kw: str) -> list[str]:
        return [i.metadata.name for i in core.list_namespaced_config_map(namespace, **kw).items]

    assert names(label_selector="app=web") == ["web"]
    assert names(label_selector="app!=web") == ["bare", "db"]
    assert names(label_selector="tier in (front,back)") == ["db", "web"]
    assert names(label_selector="tier notin (front)") == ["bare", "db"]
    assert names(label_selector="app") == ["db", "web"]
    assert names(label_selector="!app") == ["bare"]
    assert names(field_selector="metadata.name=db") == ["db"]
    assert names(field_selector="metadata.name!=db", label_selector="app") == ["web"]
    all_ns = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={namespace}")
    assert len(all_ns.items) == 3


def test_bad_selectors_are_400(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(namespace, field_selector="data.k=v")
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == (
        '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"')
    with pytest.raises(ApiException) as e:
        core.list_namespaced_secret(namespace, field_selector="data.k=v")
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == "field label not supported: data.k"
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(namespace, label_selector="a in b")
    assert e.value.status == 400


def test_limit_and_continue_page_through_a_list(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(namespace, _cm(f"p{i}"))
    seen, token = [], None
    while True:
        page = core.list_namespaced_config_map(namespace, limit=2, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == ["p0", "p1", "p2", "p3", "p4"]


def test_replace_with_stale_resource_version_is_409(core: client.CoreV1Api, namespace: str) -> None:
    first = core.create_namespaced_config_map(namespace, _cm("r", data={"v": "1"}))
    first.data = {"v": "2"}
    second = core.replace_namespaced_config_map("r", namespace, first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    first.data = {"v": "3"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("r", namespace, first)
    assert e.value.status == 409
    status = json.loads(e.value.body)
    assert status["reason"] == "Conflict" and "the object has been modified" in status["message"]
    assert core.read_namespaced_config_map("r", namespace).data == {"v": "2"}


def test_replace_without_resource_version_is_unconditional(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, _cm("u", data={"v": "1"}))
    done = core.replace_namespaced_config_map("u", namespace, _cm("u", data={"v": "9"}))
    assert done.data == {"v": "9"}


def test_no_op_update_keeps_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, _cm("same", data={"v": "1"}))
    again = core.patch_namespaced_config_map("same", namespace, {"data": {"v": "1"}})
    assert again.metadata.resource_version == made.metadata.resource_version


def _deployment(name: str) -> dict:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "img:1"}]}},
        },
    }


def test_generation_bumps_on_spec_change_only(apps: client.AppsV1Api, namespace: str) -> None:
    made = apps.create_namespaced_deployment(namespace, _deployment("gen"))
    assert made.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment("gen", namespace, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    status = apps.patch_namespaced_deployment_status("gen", namespace, {"status": {"replicas": 2, "readyReplicas": 2}})
    assert status.metadata.generation == 1 and status.status.ready_replicas == 2
    changed = apps.patch_namespaced_deployment("gen", namespace, {"spec": {"replicas": 3}})
    assert changed.metadata.generation == 2


def test_status_subresource_splits_spec_and_status(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red"}, "status": {"phase": "ignored"}}
    made = custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    assert "status" not in made
    main = custom.patch_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w", {"status": {"phase": "main"}})
    assert "status" not in main and main["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    st = custom.patch_namespaced_custom_object_status(
        widgets, "v1", namespace, "widgets", "w", {"spec": {"color": "blue"}, "status": {"phase": "Ready"}}
    )
    assert st["status"] == {"phase": "Ready"} and st["spec"]["color"] == "red"
    assert st["metadata"]["generation"] == 1
    spec = custom.patch_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w", {"spec": {"color": "green"}})
    assert spec["metadata"]["generation"] == 2 and spec["status"] == {"phase": "Ready"}


def test_scale_subresource_reads_and_writes_replicas(apps: client.AppsV1Api, custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, _deployment("sc"))
    scale = apps.read_namespaced_deployment_scale("sc", namespace)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=sc"
    apps.replace_namespaced_deployment_scale("sc", namespace, {"metadata": {"name": "sc"}, "spec": {"replicas": 5}})
    d = apps.read_namespaced_deployment("sc", namespace)
    assert d.spec.replicas == 5 and d.metadata.generation == 2
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red", "replicas": 1}}
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    custom.patch_namespaced_custom_object_scale(widgets, "v1", namespace, "widgets", "w", {"spec": {"replicas": 4}})
    assert custom.get_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w")["spec"]["replicas"] == 4


def test_twenty_conflicting_writers_apply_every_increment_once(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, _cm("counter", data={"n": "0"}))
    conflicts = []

    def writer() -> None:
        for _ in range(5):
            while True:
                cm = core.read_namespaced_config_map("counter", namespace)
                cm.data["n"] = str(int(cm.data["n"]) + 1)
                try:
                    core.replace_namespaced_config_map("counter", namespace, cm)
                    break
                except ApiException as e:
                    assert e.status == 409
                    conflicts.append(1)

    threads = [threading.Thread(target=writer) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert core.read_namespaced_config_map("counter", namespace).data["n"] == "100"
    assert conflicts, "20 writers never collided; the test did not exercise conflicts"


def test_lease_round_trips_micro_times_and_conflicts_on_stale_replace(api_client: client.ApiClient, namespace: str) -> None:
    coord = client.CoordinationV1Api(api_client)
    spec = {"holderIdentity": "op-1", "leaseDurationSeconds": 15, "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": "2026-01-01T00:00:05.123456Z", "leaseTransitions": 0}
    # The typed client re-serializes the body through its models: a zero fraction is dropped
    # ("2026-01-01T00:00:00+00:00"), which is no MicroTime and cannot be decoded.
    with pytest.raises(ApiException) as e:
        coord.create_namespaced_lease(namespace, {"metadata": {"name": "leader"}, "spec": spec})
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == (
        'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-01-01T00:00:00+00:00" as '
        '"2006-01-02T15:04:05.000000Z07:00": cannot parse "+00:00" as ".000000"')
    spec["acquireTime"] = "2026-01-01T00:00:00.000001Z"
    lease = coord.create_namespaced_lease(namespace, {"metadata": {"name": "leader"}, "spec": spec})
    assert lease.spec.renew_time.microsecond == 123456 and lease.metadata.generation is None
    lease.spec.holder_identity = "op-2"
    coord.replace_namespaced_lease("leader", namespace, lease)
    with pytest.raises(ApiException) as e:
        coord.replace_namespaced_lease("leader", namespace, lease)
    assert e.value.status == 409


def test_events_are_listed_by_involved_object(core: client.CoreV1Api, namespace: str) -> None:
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "target", "namespace": namespace}
    for name, target in (("e1", "target"), ("e2", "other")):
        core.create_namespaced_event(namespace, {
            "metadata": {"name": name},
            "involvedObject": {**ref, "name": target},
            "reason": "Scaled", "message": "scaled to 3", "type": "Normal", "count": 1,
            "source": {"component": "op"}, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
        })
    found = core.list_namespaced_event(namespace, field_selector="involvedObject.name=target,reason=Scaled")
    assert [e.metadata.name for e in found.items] == ["e1"]


def test_patch_carrying_a_stale_resource_version_is_409(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, _cm("pv", data={"v": "1"}))
    core.patch_namespaced_config_map("pv", namespace, {"data": {"v": "2"}})
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("pv", namespace, {"metadata": {"resourceVersion": made.metadata.resource_version}, "data": {"v": "3"}})
    assert e.value.status == 409


def test_delete_preconditions_are_checked(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, _cm("pre"))
    with pytest.raises(ApiException) as e:
        core.delete_namespaced_config_map("pre", namespace, body={"preconditions": {"uid": "not-the-uid"}})
    assert e.value.status == 409
    core.delete_namespaced_config_map("pre", namespace, body={"preconditions": {"uid": made.metadata.uid}})


def test_dry_run_validates_without_storing(core: client.CoreV1Api, namespace: str) -> None:
    dry = core.create_namespaced_config_map(namespace, _cm("dry"), dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("dry", namespace)
    assert e.value.status == 404


def test_endpoint_slices_are_served_by_the_dynamic_client(api_client: client.ApiClient, namespace: str) -> None:
    from kubernetes.dynamic import DynamicClient

    slices = DynamicClient(api_client).resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
    body = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.2"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
    slices.create(body=body, namespace=namespace)
    found = slices.get(namespace=namespace, label_selector="kubernetes.io/service-name=web")
    assert [i.metadata.name for i in found.items] == ["web-abc"]


def test_events_k8s_io_shares_storage_with_core_events(api_client: client.ApiClient, core: client.CoreV1Api, namespace: str) -> None:
    events = client.EventsV1Api(api_client)
    made = events.create_namespaced_event(namespace, {
        "metadata": {"name": "ev2"},
        "eventTime": "2026-01-01T00:00:00.000001Z",
        "reportingController": "xtrinode.io/operator", "reportingInstance": "op-1",
        "action": "Scale", "reason": "Scaled", "note": "workers 2 -> 4", "type": "Normal",
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": namespace},
    })
    assert made.note == "workers 2 -> 4" and made.regarding.name == "web"
    as_core = core.read_namespaced_event("ev2", namespace)
    assert as_core.message == "workers 2 -> 4" and as_core.involved_object.kind == "Deployment"
    assert as_core.reporting_component == "xtrinode.io/operator"
    patched = events.patch_namespaced_event("ev2", namespace, {"series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}})  # patch bodies go as written
    assert patched.series.count == 2
    found = events.list_namespaced_event(namespace, field_selector="regarding.name=web")
    assert [e.metadata.name for e in found.items] == ["ev2"]


def _fields_of(e: pytest.ExceptionInfo[ApiException]) -> list[str]:
    assert e.value.status == 422, e.value.body
    return [c["field"] for c in json.loads(e.value.body)["details"]["causes"]]


def test_built_in_specs_are_validated_like_the_apiserver(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    bad = _deployment("mismatch")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    bad["spec"]["template"]["spec"]["containers"].append({"name": "app"})
    with pytest.raises(ApiException) as e:
        apps.create_namespaced_deployment(namespace, bad)
    assert _fields_of(e) == [
        "spec.template.metadata.labels", "spec.template.spec.containers[1].image", "spec.template.spec.containers[1].name",
    ]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(namespace, {"metadata": {"name": "a.b"}, "spec": {"ports": [{"port": 80}]}})
    assert _fields_of(e) == ["metadata.name"]
    core.create_namespaced_service(namespace, {"metadata": {"name": "1st"}, "spec": {"ports": [{"port": 80}]}})
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(namespace, {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}, {"port": 70000, "name": "b"}]}})
    assert _fields_of(e) == ["spec.ports[0].name", "spec.ports[1].port", "spec.ports[1].targetPort"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(namespace, _cm("lbl", {"team": "data eng"}, {"bad key": "v"}))
    assert _fields_of(e) == ["metadata.labels", "data[bad key]"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "raw"}, "data": {"password": "not base64!"}})
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3')


def test_immutable_fields_cannot_change(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, _deployment("imm"))
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_deployment("imm", namespace, {"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}})
    assert _fields_of(e) == ["spec.selector"]
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("frozen", namespace, {"data": {"a": "2"}})
    assert _fields_of(e) == ["data"]
    with pytest.raises(ApiException) as e:
        core.delete_namespace("kube-system")
    assert e.value.status == 403


def test_fields_of_the_wrong_type_are_400(api_client: client.ApiClient, namespace: str) -> None:
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api_client)
    for api_version, kind, body in (
        ("v1", "ConfigMap", {"metadata": {"name": "t", "labels": ["x"]}}),
        ("v1", "Secret", {"metadata": {"name": "t"}, "stringData": "x"}),
        ("apps/v1", "Deployment", {"metadata": {"name": "t"}, "spec": {"selector": "a", "template": 5}}),
    ):
        with pytest.raises(ApiException) as e:
            dynamic.resources.get(api_version=api_version, kind=kind).create(body={"apiVersion": api_version, "kind": kind, **body}, namespace=namespace)
        assert e.value.status == 400 and "cannot be handled as a" in json.loads(e.value.body)["message"]
