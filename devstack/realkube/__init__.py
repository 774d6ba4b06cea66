"""The real Kubernetes control plane on one machine: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler built by `scripts/fetch-kubernetes.sh`, with the devstack's own CA and tokens.

`ControlPlane` knows the files, flags and health checks; `RealControlPlane` runs the processes
(tests, `python -m devstack.realkube`); `xtrinode dev up --kube real` supervises them itself.
No kubelet: the devstack kubelet registers a Node and runs the pods bound to it.
"""

from .controlplane import BINARIES, CONTROLLERS, ControlPlane, ControlPlaneError, ProcessSpec, find_binaries
from .pki import ADMIN, Pki, TokenUser, ensure_pki
from .runner import RealControlPlane

__all__ = [
    "ADMIN",
    "BINARIES",
    "CONTROLLERS",
    "ControlPlane",
    "ControlPlaneError",
    "Pki",
    "ProcessSpec",
    "RealControlPlane",
    "TokenUser",
    "ensure_pki",
    "find_binaries",
]
