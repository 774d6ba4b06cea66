"""The webhook inside the operator process: `OperatorSettings.webhook` (what `xtrinode operator
--webhook-cert --webhook-key` sets) serves the same AdmissionReviews over HTTPS, with SubjectAccessReviews
through the operator's kubeconfig, for as long as the operator runs, and counts each review by its result
on the operator's /metrics (`xtrinode_operator_admission_reviews_total{kind,result}`).
"""

from __future__ import annotations

import ssl
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY
from temporalio.client import Client

from devstack.certs import write_serving_pair
from workers.operator import Operator, OperatorSettings
from workers.webhook import WebhookSettings
from xtrinode.temporal import TemporalSettings

pytestmark = pytest.mark.integration


async def test_the_operator_serves_the_webhook(kubeconfig: Path, temporal_client: Client, namespace: str,
                                               tmp_path: Path) -> None:
    pair = write_serving_pair(tmp_path / "tls")
    settings = OperatorSettings(
        temporal=TemporalSettings(task_queue=f"tq-{uuid.uuid4().hex[:8]}"), kubeconfig=kubeconfig,
        namespaces=(namespace,), watch_timeout_seconds=1, lease_namespace=namespace, lease_duration=timedelta(seconds=3),
        webhook=WebhookSettings(host="127.0.0.1", port=0, cert_file=pair.cert_file, key_file=pair.key_file,
                                kubeconfig=kubeconfig))
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u-1", "kind": {"group": "analytics.xtrinode.io", "version": "v1", "kind": "XTrinode"},
        "operation": "CREATE", "namespace": namespace, "name": "x",
        "userInfo": {"username": "eve", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode", "metadata": {"name": "x"},
                   "spec": {"size": "xs", "valuesOverlay": {"service": {"port": 80}}}}}}
    context = ssl.create_default_context(cafile=str(pair.ca_file))
    denied = {"kind": "XTrinode", "result": "denied"}
    malformed = {"kind": "XTrinode", "result": "malformed"}
    before = REGISTRY.get_sample_value("xtrinode_operator_admission_reviews_total", denied) or 0.0
    before_malformed = REGISTRY.get_sample_value("xtrinode_operator_admission_reviews_total", malformed) or 0.0
    async with Operator(temporal_client, settings) as operator, aiohttp.ClientSession() as session:
        assert operator.webhook is not None
        url = f"https://127.0.0.1:{operator.webhook.port}/validate/xtrinodes"
        async with session.post(url, json=review, ssl=context) as reply:
            response = (await reply.json())["response"]
        # Bodies that are no AdmissionReview at all are answered 400 and counted as malformed too.
        for body in (b"{not json", b'{"request": {}}'):
            async with session.post(url, data=body, headers={"Content-Type": "application/json"},
                                    ssl=context) as reply:
                assert reply.status == 400
    assert REGISTRY.get_sample_value("xtrinode_operator_admission_reviews_total", malformed) == before_malformed + 2
    assert response["uid"] == "u-1" and response["allowed"] is False
    assert "user 'eve' does not have it" in response["status"]["message"]
    assert operator.webhook is None  # stopped with the operator
    assert REGISTRY.get_sample_value("xtrinode_operator_admission_reviews_total", denied) == before + 1
