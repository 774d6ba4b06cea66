"""A Kubernetes API server emulator that kubectl and the official Python client accept unchanged.

Used by the devstack and the integration tests; start it with `KubeApiServer` or `python -m`.
"""

from .runner import KubeApiServer, ThreadedKubeApiServer, kubeconfig
from .server import KubeApiSettings, create_app, run

__all__ = ["KubeApiServer", "KubeApiSettings", "ThreadedKubeApiServer", "create_app", "kubeconfig", "run"]
