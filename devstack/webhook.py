"""The admission webhook in `dev up`: a throwaway CA and serving pair in the state directory, the
`xtrinode webhook` command line, its readiness check, and the ValidatingWebhookConfiguration that makes
the API emulator call it (failurePolicy Fail, so nothing is admitted unchecked).
"""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path

from devstack import kubeclient
from devstack.certs import ServingPair, write_serving_pair
from workers.webhook import validating_webhook_configuration

__all__ = ["argv", "is_ready", "register", "serving_pair"]

CONFIG_PATH = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/xtrinode"


def serving_pair(state_root: Path) -> ServingPair:
    """A new CA and serving certificate for 127.0.0.1 each start (the configuration carries the new CA)."""
    return write_serving_pair(state_root / "webhook")


def argv(python_prefix: list[str], pair: ServingPair, port: int, kubeconfig: str) -> list[str]:
    return [*python_prefix, "xtrinode.cli", "webhook", "--cert", str(pair.cert_file), "--key", str(pair.key_file),
            "--host", "127.0.0.1", "--port", str(port), "--kubeconfig", kubeconfig, "--cert-reload-interval", "2s"]


def is_ready(url: str, pair: ServingPair) -> bool:
    context = ssl.create_default_context(cafile=str(pair.ca_file))
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1.0, context=context) as response:
            return int(response.status) == 200
    except (OSError, ValueError):
        return False


def register(api: kubeclient.KubeClient, url: str, pair: ServingPair) -> None:
    """Apply the ValidatingWebhookConfiguration `xtrinode` pointing at `url` with the pair's CA."""
    api.apply(CONFIG_PATH, validating_webhook_configuration(pair.ca_pem, url=url))
