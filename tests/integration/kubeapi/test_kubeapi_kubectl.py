"""kubectl against the emulator, as a user runs it (private discovery cache per session).

Checks `apply -R -f deploy/crds/` and `apply -f deploy/examples/`, the KEDA ScaledObject CRD,
`get xtrinodes -A` with the CRD's printer columns and namespaces, `get -o yaml`, `patch --type
merge` and the 415 for default (strategic) patches on CRs, client- and server-side apply
(conflicts, force, the client-to-server-side upgrade), `replace` with a stale RV, `delete` returning once finalizers go (WatchList),
`wait`, `scale`, `get -w`, `get events`, protobuf `create`, `auth can-i`/`whoami`, and a 422
naming the field for an invalid CR.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[3]
XTRINODES_CRD = REPO / "deploy/crds/xtrinodes.analytics.xtrinode.io.yaml"
KUBECTL = str(Path(sys.executable).parent / "kubectl")


@pytest.fixture(scope="module")
def applied(kubectl: Any, core: client.CoreV1Api) -> str:
    """deploy/crds (recursively, KEDA included) and deploy/examples applied; returns the examples' namespace."""
    assert XTRINODES_CRD.exists(), "deploy/crds/ lacks the XTrinode CRD: run `make crds`"
    out = kubectl("apply", "-R", "-f", "deploy/crds/").stdout
    # The real control plane is shared by the run: another suite (the chart's) may have applied them first.
    for crd in ("xtrinodes.analytics.xtrinode.io", "scaledobjects.keda.sh"):
        assert re.search(rf"customresourcedefinition\.apiextensions\.k8s\.io/{re.escape(crd)} "
                         r"(created|unchanged|configured)", out), out
    kubectl("create", "namespace", "analytics")  # protobuf body
    kubectl("apply", "-f", "deploy/examples/")
    return "analytics"


def test_get_xtrinodes_all_namespaces_prints_printer_columns(kubectl: Any, applied: str) -> None:
    lines = kubectl("get", "xtrinodes", "-A").stdout.splitlines()
    crd = yaml.safe_load(XTRINODES_CRD.read_text())
    columns = [c["name"].upper() for c in crd["spec"]["versions"][0].get("additionalPrinterColumns", [{"name": "Age"}])]
    assert lines[0].split() == ["NAMESPACE", "NAME", *columns]
    rows = {tuple(line.split()[:2]) for line in lines[1:]}
    assert (applied, "demo") in rows


def test_get_yaml_and_merge_patch_and_reapply_unchanged(kubectl: Any, applied: str) -> None:
    got = yaml.safe_load(kubectl("get", "xtrinode", "demo", "-n", applied, "-o", "yaml").stdout)
    assert got["kind"] == "XTrinode" and got["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    out = kubectl("patch", "xtrinodes", "demo", "-n", applied, "--type", "merge", "-p", '{"spec":{"size":"s"}}').stdout
    assert "patched" in out
    after = yaml.safe_load(kubectl("get", "tn", "demo", "-n", applied, "-o", "yaml").stdout)
    assert after["spec"]["size"] == "s" and after["metadata"]["generation"] == 2
    assert "configured" in kubectl("apply", "-f", "deploy/examples/minimal.yaml").stdout
    assert "unchanged" in kubectl("apply", "-f", "deploy/examples/minimal.yaml").stdout


def test_default_strategic_patch_on_custom_resource_is_refused(kubectl: Any, applied: str) -> None:
    res = kubectl("patch", "xtrinodes", "demo", "-n", applied, "-p", '{"spec":{"size":"m"}}', check=False)
    assert res.returncode != 0
    assert "accepted media types include" in res.stderr


def test_keda_scaled_object_crd_validates_and_prints_columns(kubectl: Any, custom: client.CustomObjectsApi, applied: str, namespace: str) -> None:
    so = {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "workers"},
        "spec": {
            "scaleTargetRef": {"name": "trino-worker"}, "minReplicaCount": 0, "maxReplicaCount": 10,
            "triggers": [{"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "threshold": "4"}}],
        },
    }
    custom.create_namespaced_custom_object("keda.sh", "v1alpha1", namespace, "scaledobjects", so)
    custom.patch_namespaced_custom_object_status(
        "keda.sh", "v1alpha1", namespace, "scaledobjects", "workers",
        {"status": {"scaleTargetKind": "apps/v1.Deployment", "conditions": [{"type": "Ready", "status": "True"}]}},
    )
    lines = kubectl("get", "so", "-n", namespace).stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "SCALETARGETKIND", "SCALETARGETNAME", "MIN", "MAX"]
    assert lines[1].split()[:6] == ["workers", "apps/v1.Deployment", "trino-worker", "0", "10", "True"]
    bad = {**so, "metadata": {"name": "bad"}, "spec": {"scaleTargetRef": {"name": "x"}}}
    with pytest.raises(client.ApiException) as e:
        custom.create_namespaced_custom_object("keda.sh", "v1alpha1", namespace, "scaledobjects", bad)
    assert e.value.status == 422 and "spec.triggers" in e.value.body


def test_invalid_custom_resource_is_rejected_naming_the_field(kubectl: Any, widgets: str, namespace: str) -> None:
    manifest = f"apiVersion: {widgets}/v1\nkind: Widget\nmetadata:\n  name: bad\n  namespace: {namespace}\nspec:\n  color: red\n  replicas: many\n"
    res = kubectl("apply", "-f", "-", input=manifest, check=False)
    assert res.returncode != 0
    assert 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer' in res.stderr


def test_widget_table_shows_printer_columns_and_singular_name_resolves(kubectl: Any, custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "tw"}, "spec": {"color": "green", "replicas": 3}}
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    custom.patch_namespaced_custom_object_status(widgets, "v1", namespace, "widgets", "tw", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    lines = kubectl("get", "wd", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "COLOR", "REPLICAS", "READY", "AGE"]
    assert lines[1].split()[:4] == ["tw", "green", "3", "True"]
    single = yaml.safe_load(kubectl("get", "widget", "tw", "-n", namespace, "-o", "yaml").stdout)
    assert single["kind"] == "Widget" and single["status"]["conditions"][0]["type"] == "Ready"


def test_server_side_apply_conflict_and_force(kubectl: Any, namespace: str) -> None:
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: {namespace}\ndata:\n  k: '1'\n"
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=manifest).stdout
    changed = manifest.replace("'1'", "'2'")
    res = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", input=changed, check=False)
    assert res.returncode != 0 and 'conflict with "kubectl"' in res.stderr and ".data.k" in res.stderr
    kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-", input=changed)
    assert kubectl("get", "cm", "ssa", "-n", namespace, "-o", "jsonpath={.data.k}").stdout == "2"


def test_server_side_apply_takes_over_from_client_side_apply(kubectl: Any, namespace: str) -> None:
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: up\n  namespace: {namespace}\ndata:\n  k: '1'\n"
    kubectl("apply", "-f", "-", input=manifest)
    upgraded = manifest.replace("'1'", "'2'")
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=upgraded).stdout
    other = kubectl("apply", "--server-side", "--field-manager=someone", "-f", "-", input=manifest, check=False)
    assert other.returncode != 0 and "conflict" in other.stderr
    assert "configured" in kubectl("apply", "-f", "-", input=manifest).stdout


def test_replace_with_stale_resource_version_conflicts(kubectl: Any, core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "rep"}, "data": {"v": "1"}})
    core.patch_namespaced_config_map("rep", namespace, {"data": {"v": "2"}})
    stale = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rep\n  namespace: {namespace}\n  resourceVersion: '{made.metadata.resource_version}'\ndata:\n  v: '3'\n"
    res = kubectl("replace", "-f", "-", input=stale, check=False)
    assert res.returncode != 0 and "the object has been modified" in res.stderr


def test_delete_returns_once_the_last_finalizer_is_removed(kubectl: Any, core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
    started = time.monotonic()

    def release() -> None:
        time.sleep(0.5)
        core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": None}})

    t = threading.Thread(target=release)
    t.start()
    res = kubectl("delete", "configmap", "fin", "-n", namespace, "--timeout=20s")
    t.join()
    assert 'configmap "fin" deleted' in res.stdout
    assert time.monotonic() - started < 10


def test_wait_for_condition_and_for_delete(kubectl: Any, custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "ww"}, "spec": {"color": "red"}}
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)

    def become_ready() -> None:
        time.sleep(0.3)
        custom.patch_namespaced_custom_object_status(widgets, "v1", namespace, "widgets", "ww", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        time.sleep(0.3)
        custom.delete_namespaced_custom_object(widgets, "v1", namespace, "widgets", "ww")

    t = threading.Thread(target=become_ready)
    t.start()
    ready = kubectl("wait", "--for=condition=Ready", "widgets/ww", "-n", namespace, "--timeout=10s")
    assert "condition met" in ready.stdout
    gone = kubectl("wait", "--for=delete", "widgets/ww", "-n", namespace, "--timeout=10s", check=False)
    t.join()
    assert gone.returncode == 0, gone.stderr


def test_scale_label_and_table_for_builtins(kubectl: Any, apps: client.AppsV1Api, namespace: str) -> None:
    labels = {"app": "web"}
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    })
    kubectl("scale", "deployment/web", "-n", namespace, "--replicas=4")
    kubectl("label", "deployment/web", "-n", namespace, "tier=front")
    d = apps.read_namespaced_deployment("web", namespace)
    assert d.spec.replicas == 4 and d.metadata.labels == {"tier": "front"}
    kubectl("create", "configmap", "lit", "-n", namespace, "--from-literal=a=1", "--from-literal=b=2")
    table = kubectl("get", "cm", "lit", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"] and table[1].split()[:2] == ["lit", "2"]


def test_get_watch_streams_one_row_tables(kubectl_env: dict[str, str], core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}, "data": {"a": "1"}})
    proc = subprocess.Popen([KUBECTL, "get", "cm", "-n", namespace, "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl_env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["NAME", "DATA", "AGE"]
        assert proc.stdout.readline().split()[:2] == ["before", "1"]
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "after"}, "data": {"a": "1", "b": "2"}})
        assert proc.stdout.readline().split()[:2] == ["after", "2"]
        assert proc.poll() is None, "kubectl get -w must keep watching"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_get_events_prints_event_columns(kubectl: Any, core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_event(namespace, {
        "metadata": {"name": "ev1"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": namespace},
        "reason": "Scaled", "message": "scaled to 3", "type": "Normal", "count": 1, "source": {"component": "op"},
    })
    lines = kubectl("get", "events", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert lines[1].split()[1:] == ["Normal", "Scaled", "deployment/web", "scaled", "to", "3"]


def test_auth_can_i_and_whoami_answer_for_the_admin(kubectl: Any) -> None:
    assert kubectl("auth", "can-i", "delete", "namespaces").stdout.strip() == "yes"
    assert "kubernetes-admin" in kubectl("auth", "whoami").stdout


def test_create_deployment_sends_protobuf_the_emulator_decodes(kubectl: Any, apps: client.AppsV1Api, namespace: str) -> None:
    kubectl("create", "deployment", "pb", "-n", namespace, "--image=img:1", "--replicas=2", "--port=8080", "--", "run", "it")
    d = apps.read_namespaced_deployment("pb", namespace)
    assert d.spec.replicas == 2 and d.spec.selector.match_labels == {"app": "pb"}
    c = d.spec.template.spec.containers[0]
    assert (c.image, c.command, c.ports[0].container_port) == ("img:1", ["run", "it"], 8080)
