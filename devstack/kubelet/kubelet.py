"""`Kubelet`: watches the cluster through the official client and makes Deployments real on this machine.

One kubelet, two modes, chosen by what the API server offers. On the emulator (no ReplicaSets) it
is also the Deployment and Endpoints controllers: Pod objects for each Deployment (rollouts
included), Deployment status, Endpoints and EndpointSlices. On a real control plane (ReplicaSets
offered: kube-controller-manager and kube-scheduler do that work) it is a node agent: it registers
a Node with a heartbeat Lease and runs only the pods bound to it, reporting podIPs from 192.0.2.0/24
and removing each deleted pod with the grace-0 DELETE once its process is gone. Both modes run one
local process per pod on its own loopback podIP and write pod status and the service map.
`async with Kubelet(settings) as kubelet:` or `__main__`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

import aiohttp

from .api import ClusterApi, ClusterApiError
from .objects import TEMPLATE_HASH_LABEL, JsonDict, ObjectKey, controller_uid, key_of, now_iso, template_hash
from .inprocess import InProcessRuntime
from .node import NodeRegistration
from .podips import HOST_IP, NODE_API_IP, ApiAddressPool, PodAddressPool, pool_seed
from .pods import LocalPod, deletion_grace
from .proxy import ServiceProxy
from .publisher import ServicePublisher
from .rollout import PodView, deployment_status, plan_rollout
from .runtime import EmulatorRuntime, LauncherRuntime, PodRuntime
from .servicemap import LocalEndpoint, PodSnapshot, build_pod_address_map, build_service_map, write_service_map
from .settings import KubeletSettings
from .watcher import WatchEvent, Watcher

__all__ = ["FINALIZER", "Kubelet"]

log = logging.getLogger("devstack.kubelet")

FINALIZER = "xtrinode.io/devstack-kubelet"
"""On every pod this kubelet creates: a deleted pod lingers (Terminating) until its process is gone."""
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_KINDS = ("deployments", "pods", "services")
_NODE_KINDS = ("pods", "services")


def _version(obj: JsonDict) -> int:
    return int(obj["metadata"].get("resourceVersion") or 0)


class Kubelet:
    """One machine's kubelet plus the Deployment and Endpoints controllers it needs."""

    def __init__(self, settings: KubeletSettings, runtime: PodRuntime | None = None) -> None:
        self.settings = settings
        self.runtime: PodRuntime
        if runtime is None:
            if settings.trino_home is not None:
                runtime = LauncherRuntime(settings.trino_home, settings.java_home)
            elif settings.in_process_nodes:
                runtime = InProcessRuntime(settings.emulator_args)
            else:
                runtime = EmulatorRuntime(settings.python, settings.emulator_args)
        self.runtime = runtime
        self.objects: dict[str, dict[ObjectKey, JsonDict]] = {kind: {} for kind in _KINDS}
        """What the watches say: deployments and services of managed namespaces, pods bound to this node."""
        self.local: dict[str, LocalPod] = {}
        """Local pods by pod uid (terminating ones stay until their process is gone)."""
        self._listed: set[str] = set()
        self._template_hashes: dict[tuple[str, int], str] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._finalizing: set[str] = set()
        seed = pool_seed(settings.node_name, str(settings.state_dir.resolve()))
        self.pod_addresses = PodAddressPool(seed)
        """The podIPs of the local pods (`podips.py`)."""
        self.api_addresses = ApiAddressPool(seed)
        """Node agent: the 192.0.2.x podIPs reported to the API, one per local pod."""
        self.node_agent = False
        """True on a real control plane (decided at start): Deployments, Endpoints and garbage collection are
        the controllers' work, this kubelet registers a Node and runs the pods bound to it."""
        self._node: NodeRegistration | None = None
        self._kinds: tuple[str, ...] = _KINDS
        self._publisher = ServicePublisher(settings.manages)
        self._service_map: dict[str, list[str]] | None = None
        self._services_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._stopping = False
        self._watchers: list[Watcher] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._api: ClusterApi | None = None
        self._http: aiohttp.ClientSession | None = None
        self._proxy = ServiceProxy(lambda address: (self._service_map or {}).get(address) or [])

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Kubelet:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self, timeout: float = 30.0) -> None:
        """Connect, list and watch; returns once the first lists are processed."""
        self._loop = asyncio.get_running_loop()
        for directory in (self.settings.state_dir, self.settings.logs_dir, self.settings.pods_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._api = api = ClusterApi(self.settings.kubeconfig)
        self._http = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(timeout):
                self.node_agent = await api.serves_replicasets()
                if self.node_agent:
                    self._node = NodeRegistration(api, self.settings.node_name, self.api_addresses.capacity,
                                                  self.settings.node_heartbeat.total_seconds())
                    await self._node.start()
        except (ClusterApiError, TimeoutError, OSError) as e:
            await self.stop()
            raise RuntimeError(
                f"the kubelet could not reach the Kubernetes API in {str(self.settings.kubeconfig)!r} "
                f"({type(e).__name__}: {str(e)[:200]}); is it up?") from e
        resync = self.settings.resync_period.total_seconds()
        self._kinds = _NODE_KINDS if self.node_agent else _KINDS
        self._watchers = [
            Watcher("pods", api.core.list_pod_for_all_namespaces, self._emit, resync_seconds=resync,
                    list_kwargs={"field_selector": f"spec.nodeName={self.settings.node_name}"}),
            Watcher("services", api.core.list_service_for_all_namespaces, self._emit, resync_seconds=resync),
        ]
        if not self.node_agent:
            self._watchers.append(
                Watcher("deployments", api.apps.list_deployment_for_all_namespaces, self._emit, resync_seconds=resync))
        for watcher in self._watchers:
            watcher.start()
        self._task = asyncio.create_task(self._control_loop(), name="kubelet-control-loop")
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            await self.stop()
            raise RuntimeError(
                f"the kubelet could not list {', '.join(self._kinds)} within {timeout}s; "
                f"is the Kubernetes API in {str(self.settings.kubeconfig)!r} up?"
            ) from None
        log.info("kubelet started", extra={"node": self.settings.node_name, "state_dir": str(self.settings.state_dir),
                                           "mode": "node agent" if self.node_agent else "emulator controllers"})

    async def stop(self) -> None:
        """Stop watching, stop every local process (SIGTERM, then SIGKILL), release threads and sockets."""
        api = self._api
        interrupted: asyncio.CancelledError | None = None
        if self._watchers and api is not None:
            await asyncio.gather(*(api.run(w.stop) for w in self._watchers))
        self._watchers = []
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:  # let the current sync finish, so the cache matches what was written
                async with asyncio.timeout(10.0):
                    await asyncio.shield(self._task)
            except (TimeoutError, asyncio.CancelledError) as e:
                # Cancelled while stopping: still stop every process below, then let the cancellation through.
                interrupted = e if isinstance(e, asyncio.CancelledError) else None
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        grace = self.settings.stop_grace.total_seconds()
        await asyncio.gather(*(p.terminate(min(grace, p.grace), run_hook=False) for p in list(self.local.values())),
                             return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        if api is not None and self.local:
            await self._report_stopped()
        for uid in self.local:
            self.pod_addresses.release(uid)
        self.local.clear()
        if self._node is not None:
            await self._node.stop()
            self._node = None
        await self._proxy.close()
        if self._service_map:
            write_service_map(self.settings.services_file, {form: [] for form in self._service_map})
        if self._http is not None:
            await self._http.close()
            self._http = None
        if api is not None:
            api.close()
            self._api = None
        log.info("kubelet stopped", extra={"node": self.settings.node_name})
        if interrupted is not None:
            raise interrupted

    async def _report_stopped(self) -> None:
        """Tell the API the pods stopped: Ready false, Endpoints not ready, Deployments without ready replicas
        (as a node going down would); best effort, since the API may be gone already."""
        try:
            async with asyncio.timeout(5.0):
                await self._sync_statuses(force=True)
        except (ClusterApiError, TimeoutError, OSError) as e:
            log.warning("could not report the stopped pods", extra={"error": f"{type(e).__name__}: {e}"[:200]})

    @property
    def api(self) -> ClusterApi:
        if self._api is None:
            raise RuntimeError("the kubelet is not started; use 'async with Kubelet(settings) as kubelet'")
        return self._api

    def processes(self) -> dict[str, int]:
        """`namespace/pod` -> pid of each running local process (for tests and status displays)."""
        return {f"{p.namespace}/{p.name}": p.process.pid for p in self.local.values()
                if p.process is not None and p.process.pid is not None and p.process.returncode is None}

    def containers(self) -> dict[str, str]:
        """`namespace/pod` -> container id of each running container, OS process or in-process node."""
        return {f"{p.namespace}/{p.name}": p.process.container_id for p in self.local.values()
                if p.process is not None and p.process.returncode is None}

    # -- what the pods need (PodHost) --------------------------------------------------------
    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("the kubelet is not started; use 'async with Kubelet(settings) as kubelet'")
        return self._http

    def changed(self) -> None:
        self._wake.set()

    async def read_objects(
        self, namespace: str, config_maps: set[str], secrets: set[str]
    ) -> tuple[dict[str, JsonDict], dict[str, JsonDict]]:
        return await self.api.read_objects(namespace, config_maps, secrets)

    def api_pod_ip(self, uid: str, local_ip: str, reported: str | None) -> str:
        """The podIP reported in the API for a pod listening on `local_ip`: the same address on the emulator;
        as node agent one of 192.0.2.0/24 (a real API server refuses loopback Endpoints), the one the pod
        reported before when it is free, mapped to `local_ip` in the service map."""
        if not self.node_agent:
            return local_ip
        return self.api_addresses.assign(uid, reported)

    @property
    def host_ip(self) -> str:
        """Every pod's hostIP in the API (the node's InternalIP as node agent)."""
        return NODE_API_IP if self.node_agent else HOST_IP

    def service_addresses(self, host: str, port: int) -> list[str] | None:
        """Ready local addresses of a Service address; None when no Service has that address."""
        return (self._service_map or {}).get(f"{host.lower().rstrip('.')}:{port}")

    async def service_proxy(self, service_address: str) -> str:
        """A stable local address forwarding to the Service's ready pods (what a ClusterIP gives)."""
        return await self._proxy.address(service_address)

    async def services_changed(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._services_event.wait()
        except TimeoutError:
            pass

    # -- watch events ------------------------------------------------------------------------
    def _emit(self, event: WatchEvent) -> None:
        """Called from watch threads: hand the event to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._apply, event)
        except RuntimeError:
            pass  # the loop is closing: the kubelet is stopping

    def _apply(self, event: WatchEvent) -> None:
        cache = self.objects[event.kind]
        if event.type == "RELIST":
            # Objects written by this kubelet after the list was taken (newer RV) survive the re-list.
            newer = {key: obj for key, obj in cache.items() if _version(obj) > event.version}
            cache.clear()
            for obj in event.items:
                if self.settings.manages(key_of(obj)[0]):
                    cache[key_of(obj)] = obj
            for key, obj in newer.items():
                if key not in cache or _version(cache[key]) < _version(obj):
                    cache[key] = obj
            self._listed.add(event.kind)
        elif event.obj is not None and self.settings.manages(key_of(event.obj)[0]):
            self._remember(event.kind, event.obj, deleted=event.type == "DELETED")
        self._wake.set()

    def _remember(self, kind: str, obj: JsonDict, *, deleted: bool = False) -> None:
        """Update the cache unless it already holds a newer version (our own writes land first)."""
        cache, key = self.objects[kind], key_of(obj)
        known = cache.get(key)
        same = known is not None and known["metadata"].get("uid") == obj["metadata"].get("uid")
        if same and known is not None and _version(known) > _version(obj):
            return
        if not deleted:
            cache[key] = obj
        elif known is None or same:
            cache.pop(key, None)

    # -- the control loop --------------------------------------------------------------------
    async def _control_loop(self) -> None:
        tick = max(0.2, self.settings.readiness_poll_interval.total_seconds())
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation and stop() would hang.
        while not self._stopping:
            try:
                async with asyncio.timeout(tick):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._listed.issuperset(self._kinds):
                continue
            try:
                await self._sync()
            except ClusterApiError as e:
                log.warning("kubelet sync failed; retrying", extra={"error": str(e)})
            except Exception:
                log.exception("kubelet sync failed; retrying")
                await asyncio.sleep(tick)
            self._synced.set()

    async def _sync(self) -> None:
        self._sync_local_pods()
        if not self.node_agent:
            await self._reconcile_deployments()
        await self._sync_statuses()

    async def _sync_statuses(self, *, force: bool = False) -> None:
        """`force` writes Deployment status even when the cache says it is current (a write cut short by
        cancellation leaves the cache behind the server)."""
        # Endpoints and services.json first: whoever sees a pod or Deployment ready can already reach it.
        await self._write_endpoints()
        await self._write_pod_statuses()
        if not self.node_agent:
            await self._write_deployment_statuses(force=force)

    def _sync_local_pods(self) -> None:
        """Start a local pod for every Pod object bound here; terminate those deleted."""
        live: set[str] = set()
        for pod in list(self.objects["pods"].values()):
            uid = str(pod["metadata"]["uid"])
            live.add(uid)
            local = self.local.get(uid)
            deleting = bool(pod["metadata"].get("deletionTimestamp"))
            if local is None:
                if deleting:
                    self._spawn(self._finalize(pod))
                elif (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    local = LocalPod(self, pod)
                    self.local[uid] = local
                    local.start()
            else:
                local.pod = pod
                grace = deletion_grace(pod)
                if deleting and not local.terminating:
                    self._spawn(self._terminate(local, pod, grace))
                elif deleting and local.terminating and grace is not None:
                    local.shorten(grace)  # a second DELETE with a shorter grace
        for uid, local in list(self.local.items()):
            if uid not in live and not local.terminating:
                self._spawn(self._terminate(local, None))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name="kubelet-pod-termination")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _terminate(self, local: LocalPod, pod: JsonDict | None, grace: float | None = None) -> None:
        await local.terminate(grace)
        self.local.pop(local.uid, None)
        self.pod_addresses.release(local.uid)
        if pod is not None:
            await self._finalize(pod)
        self.api_addresses.release(local.uid)
        self._wake.set()

    async def _finalize(self, pod: JsonDict) -> None:
        """A deleted pod whose process is gone leaves the API: on the emulator by removing our finalizer, on
        a real API server by the grace-0 DELETE a kubelet sends (only for this pod's uid)."""
        uid = str(pod["metadata"]["uid"])
        if uid in self._finalizing:
            return
        if not self.node_agent and FINALIZER not in (pod["metadata"].get("finalizers") or []):
            return
        self._finalizing.add(uid)
        namespace, name = key_of(pod)
        try:
            if self.node_agent:
                await self.api.delete_pod_now(namespace, name, uid)
                log.info("pod removed", extra={"namespace": namespace, "pod": name})
            else:
                await self.api.remove_pod_finalizer(namespace, name, FINALIZER)
        except ClusterApiError as e:
            log.warning("cannot remove the deleted pod; retrying", extra={"error": str(e)})
            self._finalizing.discard(uid)

    # -- Deployments -------------------------------------------------------------------------
    def _pods_by_owner(self) -> dict[str, list[JsonDict]]:
        """Pod objects by their controller's uid: one pass, so each Deployment's views are a lookup."""
        owned: dict[str, list[JsonDict]] = {}
        for pod in self.objects["pods"].values():
            owner = controller_uid(pod)
            if owner is not None:
                owned.setdefault(owner, []).append(pod)
        return owned

    def _template_hash(self, deployment: JsonDict) -> str:
        """pod-template-hash of the Deployment's template, computed once per generation."""
        meta = deployment["metadata"]
        key = (str(meta["uid"]), int(meta.get("generation") or 0))
        cached = self._template_hashes.get(key)
        if cached is None:
            if len(self._template_hashes) > 4 * len(self.objects["deployments"]) + 64:
                self._template_hashes.clear()
            cached = self._template_hashes[key] = template_hash((deployment.get("spec") or {}).get("template") or {})
        return cached

    def _views(self, deployment: JsonDict, owned: dict[str, list[JsonDict]]) -> list[PodView]:
        uid = deployment["metadata"]["uid"]
        current = self._template_hash(deployment)
        views = []
        for pod in owned.get(str(uid), ()):
            meta = pod["metadata"]
            local = self.local.get(str(meta["uid"]))
            views.append(PodView(
                name=str(meta["name"]),
                current=(meta.get("labels") or {}).get(TEMPLATE_HASH_LABEL) == current,
                ready=local is not None and local.reported_ready,
                terminating=bool(meta.get("deletionTimestamp"))
                or (local is not None and local.terminating and not self._stopping),
                created=str(meta.get("creationTimestamp") or ""),
            ))
        return views

    async def _reconcile_deployments(self) -> None:
        owned = self._pods_by_owner()
        for deployment in list(self.objects["deployments"].values()):
            meta, spec = deployment["metadata"], deployment.get("spec") or {}
            if meta.get("deletionTimestamp") or spec.get("paused"):
                continue
            plan = plan_rollout(spec, self._views(deployment, owned))
            try:
                for _ in range(plan.create):
                    self._remember("pods", await self.api.create_pod(str(meta["namespace"]), self._new_pod(deployment)))
                for name in plan.delete:
                    deleted = await self.api.delete_pod(str(meta["namespace"]), name)
                    if deleted is not None and deleted.get("kind") == "Pod":
                        self._remember("pods", deleted)
            except ClusterApiError as e:
                log.warning("cannot roll out deployment; retrying", extra={"error": str(e)})

    def _new_pod(self, deployment: JsonDict) -> JsonDict:
        """A Pod from the Deployment's template: its labels plus pod-template-hash, owned by the Deployment."""
        meta, template = deployment["metadata"], (deployment.get("spec") or {}).get("template") or {}
        pod_hash = template_hash(template)
        suffix = "".join(random.choices(_SUFFIX_ALPHABET, k=5))
        template_meta = template.get("metadata") or {}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}-{suffix}",
                "namespace": meta["namespace"],
                "labels": {**(template_meta.get("labels") or {}), TEMPLATE_HASH_LABEL: pod_hash},
                "annotations": dict(template_meta.get("annotations") or {}),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
                "finalizers": [FINALIZER],
            },
            "spec": {**(template.get("spec") or {}), "nodeName": self.settings.node_name},
        }

    # -- status, Endpoints, service map -------------------------------------------------------
    async def _write_pod_statuses(self) -> None:
        for local in list(self.local.values()):
            status = local.compute_status()
            if status == local.written_status or local.key not in self.objects["pods"]:
                continue
            try:
                updated = await self.api.patch_pod_status(local.namespace, local.name, status)
            except ClusterApiError as e:
                log.warning("cannot write pod status; retrying", extra={"error": str(e)})
                continue
            local.written_status = status
            if updated is not None:
                self._remember("pods", updated)

    async def _write_deployment_statuses(self, *, force: bool = False) -> None:
        now = now_iso()
        owned = self._pods_by_owner()
        for deployment in list(self.objects["deployments"].values()):
            if deployment["metadata"].get("deletionTimestamp"):
                continue
            status = deployment_status(deployment, self._views(deployment, owned), now)
            current = deployment.get("status") or {}
            # Zero counts come back omitted (omitempty), so a missing count equals 0.
            if not force and all(current.get(k, 0 if isinstance(v, int) else None) == v for k, v in status.items()):
                continue
            namespace, name = key_of(deployment)
            try:
                updated = await self.api.patch_deployment_status(namespace, name, status)
            except ClusterApiError as e:
                log.warning("cannot write deployment status; retrying", extra={"error": str(e)})
                continue
            if updated is not None:
                self._remember("deployments", updated)

    def _endpoint_views(self) -> PodSnapshot:
        """The local pods with an IP as Services see them now; pods that finished for good (phase
        Succeeded/Failed) are left out, as the endpoints controllers do."""
        views = []
        for local in self.local.values():
            if local.ip is None or (local.terminated is not None and not local.terminating):
                continue
            deleting = bool(local.pod["metadata"].get("deletionTimestamp"))
            views.append(LocalEndpoint(
                local.namespace, local.name, local.uid, local.labels, local.ip, local.reported_ready,
                [local.container], dict(local.ports),
                terminating=deleting or (local.terminating and not self._stopping),
                serving=local.serving and local.process is not None and local.process.returncode is None,
                node_name=self.settings.node_name, api_ip=local.api_ip,
            ))
        return PodSnapshot(views)

    async def _write_endpoints(self) -> None:
        """Endpoints, EndpointSlices and services.json from one snapshot of the local pods; pod and
        Deployment status then report the readiness published here."""
        for local in self.local.values():
            local.reported_ready = local.ready and not local.terminating
        pods = self._endpoint_views()
        services = list(self.objects["services"].values())
        if not self.node_agent:  # on a real control plane the endpoints controllers write them
            await self._publisher.publish(self.api, services, pods)
        mapping = build_service_map(services, pods)
        if self.node_agent:
            mapping.update(build_pod_address_map(pods))
        if mapping != self._service_map:
            write_service_map(self.settings.services_file, mapping)
            self._service_map = mapping
            self._services_event.set()
            self._services_event = asyncio.Event()
