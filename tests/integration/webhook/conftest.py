"""The admission webhook on real parts: `xtrinode webhook` as a process serving HTTPS with a throwaway
CA, the Kubernetes API emulator (in a thread) with our CRDs and a ValidatingWebhookConfiguration that
points at the webhook, SubjectAccessReviews answered from the emulator's RBAC objects, and kubectl.

Session-scoped; each test uses its own namespace.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client

from devstack.certs import ServingPair, write_serving_pair
from tests.kube_fixtures import api_client, core, install_crds, kubeapi, kubeconfig, namespace  # noqa: F401 (fixtures)
from workers.webhook import validating_webhook_configuration
from devstack import ports

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def free_port() -> int:
    """Below the kernel's ephemeral range (devstack.ports): the process it is for binds it later."""
    return ports.free_port()


@dataclass
class Webhook:
    """A running `xtrinode webhook` process."""

    url: str
    pair: ServingPair
    process: subprocess.Popen[bytes]
    log: Path

    def post(self, path: str, body: Any = None, *, data: bytes | None = None,
             content_type: str = "application/json", timeout: float = 10) -> requests.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        if data is None:
            import json

            data = json.dumps(body).encode()
        return requests.post(self.url + path, data=data, headers=headers, verify=str(self.pair.ca_file), timeout=timeout)


@pytest.fixture(scope="session")
def serving(tmp_path_factory: pytest.TempPathFactory) -> ServingPair:
    return write_serving_pair(tmp_path_factory.mktemp("webhook-tls"))


@pytest.fixture(scope="session")
def webhook(serving: ServingPair, kubeconfig: Path, api_client: client.ApiClient,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    """`xtrinode webhook` on a free port, registered in the emulator for XTrinodes and XTrinodeCatalogs."""
    install_crds(api_client)
    port = free_port()
    log = tmp_path_factory.mktemp("webhook-log") / "webhook.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "xtrinode"), "webhook", "--cert", str(serving.cert_file), "--key", str(serving.key_file),
             "--host", "127.0.0.1", "--port", str(port), "--kubeconfig", str(kubeconfig)],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/healthz", verify=str(serving.ca_file), timeout=1).ok:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"xtrinode webhook did not start:\n{log.read_text()}")
        time.sleep(0.1)
    config = validating_webhook_configuration(serving.ca_pem, url=url)
    client.AdmissionregistrationV1Api(api_client).create_validating_webhook_configuration(config)
    try:
        yield Webhook(url, serving, process, log)
    finally:
        client.AdmissionregistrationV1Api(api_client).delete_validating_webhook_configuration(config["metadata"]["name"])
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl against the emulator with a private discovery cache; fails on non-zero exit unless check=False."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path_factory.mktemp("kubecache")),
           "HOME": str(tmp_path_factory.mktemp("home"))}

    def run(*args: str, input: str | None = None, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(BIN / "kubectl"), *args], input=input, capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=REPO)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run
