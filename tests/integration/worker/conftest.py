"""Fixtures for the lifecycle worker's own parts: the Kubernetes API emulator through the official client."""

from __future__ import annotations

from tests.kube_fixtures import api_client, apps, core, kubeapi, kubeconfig, namespace  # noqa: F401 (fixtures)
