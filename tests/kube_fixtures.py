"""Fixtures shared by the suites that talk to the Kubernetes API emulator through the official client.

A conftest imports the ones it wants (each conftest gets its own session server); `namespace_name`
gives every test a unique, DNS-safe namespace name derived from the test's name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from devstack.kubeapi import ThreadedKubeApiServer

_counter = itertools.count()


def namespace_name(request: pytest.FixtureRequest, prefix: str = "") -> str:
    """`<prefix><test name, DNS-safe, at most 40 chars>-<n>`, unique within the run."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"{prefix}{base}-{next(_counter)}"


@pytest.fixture(scope="session")
def kubeapi() -> Iterator[ThreadedKubeApiServer]:
    with ThreadedKubeApiServer() as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kubeapi: ThreadedKubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kubeapi.write_kubeconfig(tmp_path_factory.mktemp("kubeapi") / "kubeconfig")


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


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for this test."""
    name = namespace_name(request)
    core.create_namespace({"metadata": {"name": name}})
    return name
