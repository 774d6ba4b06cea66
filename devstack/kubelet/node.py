"""`NodeRegistration`: the devstack kubelet as a Node of a real control plane.

Registers the Node (capacity, addresses, Ready), renews its heartbeat Lease in `kube-node-lease`
every 10 s (`node_heartbeat`) and its Ready condition every minute, lifts the `not-ready` taint a new Node gets (the
node lifecycle controller would, a few seconds later), and cordons the Node on stop so the
scheduler sends nothing to a kubelet that is not there. Used only when the API server has real
controllers (`Kubelet.node_agent`); the emulator has no Nodes.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from datetime import UTC, datetime

from .api import ClusterApi, ClusterApiError
from .objects import JsonDict, now_iso
from .podips import NODE_API_IP

__all__ = ["LEASE_NAMESPACE", "NodeRegistration", "micro_time", "node_body", "node_status"]

log = logging.getLogger("devstack.kubelet.node")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
STATUS_EVERY = 6
"""Node status is rewritten every this many Lease renewals (a minute at the default 10 s)."""
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
KUBELET_VERSION = "v1.37.2"
"""What the Node reports as kubeletVersion: the control plane's version (no version skew warnings)."""


def micro_time(when: datetime | None = None) -> str:
    """A MicroTime as the API server requires it (`2006-01-02T15:04:05.000000Z`)."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_body(name: str) -> JsonDict:
    """The Node object as first registered (status is written through the status subresource)."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64" if platform.machine() in ("x86_64", "AMD64") else platform.machine(),
            "node.xtrinode.io/devstack": "true",
        }},
        "spec": {},
    }


def node_status(name: str, pods: int, *, ready: bool, previous: JsonDict | None = None) -> JsonDict:
    """Capacity (effectively unbounded CPU and memory: the devstack runs every pod it is given; `pods` is
    how many pod addresses it has), addresses, node info and conditions with a fresh heartbeat."""
    now = now_iso()
    old = {c.get("type"): c for c in ((previous or {}).get("conditions") or [])}

    def condition(ctype: str, status: bool, reason: str, message: str) -> JsonDict:
        text = "True" if status else "False"
        since = old.get(ctype, {})
        changed = since.get("status") != text
        return {"type": ctype, "status": text, "reason": reason, "message": message, "lastHeartbeatTime": now,
                "lastTransitionTime": now if changed else since.get("lastTransitionTime", now)}

    capacity = {"cpu": "1000", "memory": "4000Gi", "pods": str(pods), "ephemeral-storage": "1000Gi"}
    return {
        "capacity": capacity, "allocatable": dict(capacity),
        "addresses": [{"type": "InternalIP", "address": NODE_API_IP}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "xtrinode-devstack", "systemUUID": "xtrinode-devstack", "bootID": "xtrinode-devstack",
            "kernelVersion": platform.release(), "osImage": "xtrinode devstack", "operatingSystem": "linux",
            "architecture": "amd64" if platform.machine() in ("x86_64", "AMD64") else platform.machine(),
            "containerRuntimeVersion": "xtrinode-devstack://1", "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
        },
        "conditions": [
            condition("MemoryPressure", False, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", False, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", False, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", ready, "KubeletReady" if ready else "KubeletStopped",
                      "the devstack kubelet is posting ready status" if ready
                      else "the devstack kubelet stopped; the node is cordoned"),
        ],
    }


class NodeRegistration:
    """The Node and its Lease, kept fresh by a heartbeat task between `start` and `stop`."""

    def __init__(self, api: ClusterApi, name: str, pods: int, heartbeat: float = 10.0) -> None:
        self.api = api
        self.name = name
        self.pods = pods
        self.heartbeat = heartbeat
        self.node: JsonDict | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register (or take back) the Node, mark it Ready and schedulable, renew the Lease once."""
        node = await self.api.read_node(self.name)
        if node is None:
            node = await self.api.create_node(node_body(self.name))
            log.info("node registered", extra={"node": self.name})
        await self._write_status(ready=True)
        taints = [t for t in (((node or {}).get("spec") or {}).get("taints") or []) if t.get("key") != NOT_READY_TAINT]
        # taints: null clears the list where a strategic merge patch would merge it; send the whole list.
        await self.api.patch_node(self.name, {"spec": {"unschedulable": None, "taints": taints or None}})
        await self._renew()
        self._task = asyncio.create_task(self._heartbeat(), name=f"kubelet-node-heartbeat-{self.name}")

    async def stop(self) -> None:
        """Stop the heartbeat and cordon the Node, reporting it not ready (best effort)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            async with asyncio.timeout(5.0):
                await self.api.patch_node(self.name, {"spec": {"unschedulable": True}})
                await self._write_status(ready=False)
        except (ClusterApiError, TimeoutError, OSError) as e:
            log.warning("could not cordon the node", extra={"node": self.name, "error": str(e)[:200]})

    async def _write_status(self, *, ready: bool) -> None:
        status = node_status(self.name, self.pods, ready=ready, previous=((self.node or {}).get("status")))
        updated = await self.api.patch_node_status(self.name, status)
        if updated is not None:
            self.node = updated

    async def _renew(self) -> None:
        uid = ((self.node or {}).get("metadata") or {}).get("uid")
        owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": uid} if uid else None
        await self.api.renew_lease(LEASE_NAMESPACE, self.name, {
            "holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_time()}, owner)

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(self.heartbeat)
            beats += 1
            try:
                await self._renew()
                if beats % STATUS_EVERY == 0:
                    await self._write_status(ready=True)
            except ClusterApiError as e:
                log.warning("node heartbeat failed; retrying", extra={"node": self.name, "error": str(e)[:200]})
