"""Fixtures shared by the suites that talk to Kubernetes through the official client, on either backend.

One Kubernetes contract suite, two backends: `kube_backend` is `emulator` (the devstack's API
emulator) or `real` (etcd, kube-apiserver, kube-controller-manager and kube-scheduler built by
scripts/fetch-kubernetes.sh, one control plane for the whole run), chosen with `pytest
--kube=emulator|real|both` (root conftest). A conftest imports the fixtures it wants (each
conftest gets its own emulator); `namespace_name` gives every test a unique, DNS-safe namespace
name for this run, and `namespace` deletes the namespace again on the real backend (the emulator
is thrown away with its state).
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from devstack.kubeapi import ThreadedKubeApiServer

_counter = itertools.count()
RUN_ID = secrets.token_hex(2)
"""Part of every test namespace name: two runs against one API server never share a namespace."""


def namespace_name(request: pytest.FixtureRequest, prefix: str = "") -> str:
    """`<prefix><test name, DNS-safe, at most 40 chars>-<run id>-<n>`, unique within the run and across runs."""
    name = request.node.name.split("[", 1)[0]
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"{prefix}{base}-{RUN_ID}-{next(_counter)}"


def is_real(request: pytest.FixtureRequest) -> bool:
    """Whether the test runs against the real control plane (its `kube_backend` parameter)."""
    return "kube_backend" in request.fixturenames and request.getfixturevalue("kube_backend") == "real"


@pytest.fixture(scope="session")
def kubeapi() -> Iterator[ThreadedKubeApiServer]:
    """The API emulator itself, for tests of the emulator (they are `emulator_only`)."""
    with ThreadedKubeApiServer() as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kube_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig for the backend: the emulator's (plain HTTP) or the real control plane's (CA and token)."""
    path = tmp_path_factory.mktemp(f"kube-{kube_backend}") / "kubeconfig"
    if kube_backend == "real":
        return Path(request.getfixturevalue("real_kube").write_kubeconfig(path))
    return request.getfixturevalue("kubeapi").write_kubeconfig(path)


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def create_namespace(core: client.CoreV1Api, name: str) -> None:
    core.create_namespace({"metadata": {"name": name, "labels": {"xtrinode.io/test-run": RUN_ID}}})


def delete_namespace(core: client.CoreV1Api, name: str) -> None:
    """Best-effort cleanup: start the namespace's deletion (the namespace controller removes its contents)."""
    try:
        core.delete_namespace(name)
    except ApiException as e:
        if e.status != 404:
            raise


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for this test; deleted afterwards on the real backend."""
    name = namespace_name(request)
    create_namespace(core, name)
    yield name
    if is_real(request):
        delete_namespace(core, name)


CRD_DIR = Path(__file__).resolve().parents[1] / "deploy" / "crds"


def install_crds(api: client.ApiClient, timeout: float = 60.0) -> None:
    """Our CRDs (and the third-party ones under deploy/crds), served and Established.

    The real control plane is shared by the whole run: a CRD another suite created is left as it is,
    one still being deleted (the chart's uninstall with crds.keep=false) is waited out and created again.
    """
    import time

    import yaml

    ext = client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + timeout
    names = []
    for path in sorted(CRD_DIR.rglob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        name = crd["metadata"]["name"]
        names.append(name)
        while True:
            try:
                ext.create_custom_resource_definition(crd)
                break
            except ApiException as e:
                if e.status != 409:
                    raise
            try:
                existing = ext.read_custom_resource_definition(name)
            except ApiException as e:
                if e.status == 404:
                    continue
                raise
            if existing.metadata.deletion_timestamp is None:
                break
            assert time.monotonic() < deadline, f"CRD {name} still being deleted after {timeout:.0f} s"
            time.sleep(0.2)
    for name in names:  # kube-apiserver serves a CRD's resources once it is Established
        while not any(c.type == "Established" and c.status == "True"
                      for c in ext.read_custom_resource_definition(name).status.conditions or []):
            assert time.monotonic() < deadline, f"CRD {name} not Established within {timeout:.0f} s"
            time.sleep(0.1)
