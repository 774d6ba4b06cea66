"""Persistence across restarts and the `python -m devstack.kubeapi` command.

Checks that objects, CRDs (and their served resources) and the RV counter survive a restart from
the state file, that old watch RVs then get 410, and that the command writes a kubeconfig kubectl
uses and saves state on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiException

from devstack.kubeapi import ThreadedKubeApiServer
from devstack.ports import free_port as _free_port

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def test_state_survives_restart(tmp_path: Path, widget_crd: dict) -> None:
    state = tmp_path / "state.json"
    with ThreadedKubeApiServer(state_file=state) as first:
        api = config.new_client_from_config(config_file=str(first.write_kubeconfig(tmp_path / "kc1")))
        client.ApiextensionsV1Api(api).create_custom_resource_definition(widget_crd)
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "keep"}})
        cm = core.create_namespaced_config_map("keep", {"metadata": {"name": "c"}, "data": {"k": "v"}})
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "test.xtrinode.io", "v1", "keep", "widgets",
            {"apiVersion": "test.xtrinode.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "blue"}},
        )
        last_rv = int(core.list_namespaced_config_map("keep").metadata.resource_version)
        api.close()
    assert state.exists()
    with ThreadedKubeApiServer(state_file=state) as second:
        api = config.new_client_from_config(config_file=str(second.write_kubeconfig(tmp_path / "kc2")))
        core = client.CoreV1Api(api)
        again = core.read_namespaced_config_map("c", "keep")
        assert again.metadata.uid == cm.metadata.uid and again.data == {"k": "v"}
        widget = client.CustomObjectsApi(api).get_namespaced_custom_object("test.xtrinode.io", "v1", "keep", "widgets", "w")
        assert widget["spec"] == {"color": "blue", "replicas": 1}
        newer = core.create_namespaced_config_map("keep", {"metadata": {"name": "d"}})
        assert int(newer.metadata.resource_version) > last_rv
        with pytest.raises(ApiException) as e:
            list(watch.Watch().stream(core.list_namespaced_config_map, "keep", resource_version=str(last_rv - 1), timeout_seconds=1))
        assert e.value.status == 410
        api.close()


def test_service_cluster_ips_stay_unique_across_a_restart(tmp_path: Path) -> None:
    """The ClusterIP allocator is saved with the objects: after a restart a new Service never gets an
    address an existing one holds (before, the counter restarted and two Services had 10.96.0.12)."""
    state = tmp_path / "state.json"
    service = {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 8080}]}}
    with ThreadedKubeApiServer(state_file=state) as first:
        api = config.new_client_from_config(config_file=str(first.write_kubeconfig(tmp_path / "kc1")))
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "svc"}})
        before = [core.create_namespaced_service("svc", {**service, "metadata": {"name": f"s{i}"}}).spec.cluster_ip
                  for i in range(3)]
        core.delete_namespaced_service("s2", "svc")  # a freed address is not handed out again at once
        api.close()
    with ThreadedKubeApiServer(state_file=state) as second:
        api = config.new_client_from_config(config_file=str(second.write_kubeconfig(tmp_path / "kc2")))
        core = client.CoreV1Api(api)
        after = [core.create_namespaced_service("svc", {**service, "metadata": {"name": f"t{i}"}}).spec.cluster_ip
                 for i in range(3)]
        api.close()
    assert len(set(before)) == 3
    assert not set(after) & set(before), (before, after)


def test_a_state_file_without_allocations_skips_addresses_in_use(tmp_path: Path) -> None:
    """State files saved before the allocator was persisted: addresses the stored Services hold are skipped."""
    state = tmp_path / "state.json"
    with ThreadedKubeApiServer(state_file=state) as first:
        api = config.new_client_from_config(config_file=str(first.write_kubeconfig(tmp_path / "kc1")))
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "old"}})
        held = core.create_namespaced_service("old", {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}})
        api.close()
    data = json.loads(state.read_text())
    data.pop("allocations")
    state.write_text(json.dumps(data))
    with ThreadedKubeApiServer(state_file=state) as second:
        api = config.new_client_from_config(config_file=str(second.write_kubeconfig(tmp_path / "kc2")))
        fresh = client.CoreV1Api(api).create_namespaced_service(
            "old", {"metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}})
        api.close()
    assert fresh.spec.cluster_ip != held.spec.cluster_ip


def test_command_serves_kubectl_and_saves_state_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    kubeconfig, state = tmp_path / "kubeconfig", tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.kubeapi", "--port", str(port), "--state-file", str(state), "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, line
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "cache")}
        made = subprocess.run([KUBECTL, "create", "configmap", "cli", "--from-literal=a=b"], env=env, capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    saved = json.loads(state.read_text())
    names = {(o["resource"], o["object"]["metadata"]["name"]) for o in saved["objects"]}
    assert ("configmaps", "cli") in names
