"""A local kubelet for the devstack: Deployments in the emulated cluster become local Trino processes.

`async with Kubelet(settings) as kubelet:` in-process, or `python -m devstack.kubelet`.
Services map to local addresses through `services.json` (see `devstack.resolver`).
"""

from .kubelet import FINALIZER, Kubelet
from .process import LocalProcess
from .runtime import EmulatorRuntime, PodLaunch, PodRuntime
from .settings import KubeletSettings

__all__ = ["EmulatorRuntime", "FINALIZER", "Kubelet", "KubeletSettings", "LocalProcess", "PodLaunch", "PodRuntime"]
