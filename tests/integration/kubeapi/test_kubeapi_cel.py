"""The project's CRDs carry the cross-field and length rules (x-kubernetes-validations CEL rules,
metadata.name maxLength), and the emulator enforces them as a real API server does: minWorkers above
maxWorkers, a name of 41+ characters, routing with both hostname and hostnameDomain are refused at
create and at patch with 422 and the rule's message (kubectl prints it); a valid object passes; a CRD
whose rule does not compile is refused."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from devstack.kubeapi import ThreadedKubeApiServer
from tests.kube_fixtures import namespace_name

REPO = Path(__file__).resolve().parents[3]
KUBECTL = str(Path(sys.executable).parent / "kubectl")
GROUP, VERSION = "analytics.xtrinode.io", "v1"


# An emulator of this module's own: the CRDs installed here must not be there for other modules.
@pytest.fixture(scope="module")
def kubeapi() -> Iterator[ThreadedKubeApiServer]:
    with ThreadedKubeApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def kubeconfig(kubeapi: ThreadedKubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kubeapi.write_kubeconfig(tmp_path_factory.mktemp("cel") / "kubeconfig")


@pytest.fixture(scope="module")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> str:
    name = namespace_name(request)
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture(scope="module")
def crds(api_client: client.ApiClient) -> Iterator[None]:
    ext = client.ApiextensionsV1Api(api_client)
    for path in sorted((REPO / "deploy" / "crds").glob("*.yaml")):
        try:
            ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
        except ApiException as e:
            if e.status != 409:
                raise
    yield


def _runtime(namespace: str, name: str = "ok", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "XTrinode", "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": "xs", **spec}}


def _create(api_client: client.ApiClient, body: dict[str, Any]) -> Any:
    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, body["metadata"]["namespace"], "xtrinodes", body)


def _refused(api_client: client.ApiClient, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as info:
        _create(api_client, body)
    assert info.value.status == 422, info.value.body
    return str(info.value.body)


def test_min_workers_above_max_workers_is_refused_with_the_rule_message(
    crds: None, api_client: client.ApiClient, namespace: str
) -> None:
    body = _refused(api_client, _runtime(namespace, minWorkers=3, maxWorkers=1))
    assert "spec.minWorkers" in body and "set minWorkers <= maxWorkers" in body
    # The defaults count: minWorkers 3 against the default maxWorkers 2.
    assert "set minWorkers <= maxWorkers" in _refused(api_client, _runtime(namespace, minWorkers=3))
    _create(api_client, _runtime(namespace, minWorkers=1, maxWorkers=1))


def test_a_name_longer_than_40_characters_is_refused(crds: None, api_client: client.ApiClient, namespace: str) -> None:
    body = _refused(api_client, _runtime(namespace, name="n" * 41))
    assert "metadata.name" in body and "Too long: may not be more than 40" in body
    _create(api_client, _runtime(namespace, name="n" * 40))


def test_routing_rules_are_enforced(crds: None, api_client: client.ApiClient, namespace: str) -> None:
    both = _refused(api_client, _runtime(namespace, routing={"hostname": "a.example.com",
                                                             "hostnameDomain": "example.com"}))
    assert "spec.routing" in both and "not both" in both
    assert "routing sets no selector" in _refused(api_client, _runtime(namespace, routing={"capacityUnits": 2}))
    _create(api_client, _runtime(namespace, routing={"header": "team-a"}))


def test_a_patch_that_breaks_a_rule_is_refused(crds: None, api_client: client.ApiClient, namespace: str) -> None:
    _create(api_client, _runtime(namespace, maxWorkers=2))
    custom = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "xtrinodes", "ok", {"spec": {"minWorkers": 5}})
    assert info.value.status == 422 and "set minWorkers <= maxWorkers" in str(info.value.body)


def test_kubectl_apply_prints_the_rule_message(
    crds: None, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(_runtime(namespace, name="bad", minWorkers=3, maxWorkers=1)))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "cache")}
    done = subprocess.run([KUBECTL, "apply", "-f", str(manifest)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "set minWorkers <= maxWorkers" in done.stderr, done.stderr


def test_a_crd_with_a_rule_that_does_not_compile_is_refused(api_client: client.ApiClient) -> None:
    crd = yaml.safe_load((REPO / "deploy" / "crds" / "xtrinodecatalogs.analytics.xtrinode.io.yaml").read_text())
    crd = copy.deepcopy(crd)
    crd["metadata"]["name"] = "brokens.cel.xtrinode.io"
    crd["spec"].update(group="cel.xtrinode.io", names={"plural": "brokens", "singular": "broken", "kind": "Broken"})
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "self.labels <= ", "message": "never"}]
    with pytest.raises(ApiException) as info:
        client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    assert info.value.status == 422 and "compilation failed" in str(info.value.body)
