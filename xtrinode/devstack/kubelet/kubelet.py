"""`Kubelet`: watches the cluster through the official client and makes Deployments real on this machine.

Pod objects for each Deployment (rollouts included), one local process per pod, Pod/Deployment
status, Endpoints and the service map. `async with Kubelet(settings) as kubelet:` or `__main__`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import aiohttp
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .objects import TEMPLATE_HASH_LABEL, JsonDict, ObjectKey, controller_uid, key_of, now_iso, template_hash
from .pods import LocalPod
from .proxy import ServiceProxy
from .rollout import PodView, deployment_status, plan_rollout
from .runtime import EmulatorRuntime, LauncherRuntime, PodRuntime
from .servicemap import LocalEndpoint, build_endpoints, build_service_map, write_service_map
from .settings import KubeletSettings
from .watcher import WatchEvent, Watcher

__all__ = ["FINALIZER", "Kubelet"]

log = logging.getLogger("xtrinode.devstack.kubelet")

FINALIZER = "xtrinode.io/devstack-kubelet"
"""On every pod this kubelet creates: a deleted pod lingers (Terminating) until its process is gone."""
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_KINDS = ("deployments", "pods", "services")


class Kubelet:
    """One machine's kubelet plus the Deployment and Endpoints controllers it needs."""

    def __init__(self, settings: KubeletSettings, runtime: PodRuntime | None = None) -> None:
        self.runtime: PodRuntime
        self.settings = settings
        if runtime is None:
            runtime = (LauncherRuntime(settings.trino_home) if settings.trino_home is not None
                       else EmulatorRuntime(settings.python, settings.emulator_args))
        self.runtime = runtime
        self.objects: dict[str, dict[ObjectKey, JsonDict]] = {kind: {} for kind in _KINDS}
        self.local: dict[str, LocalPod] = {}
        """Local pods by pod uid (terminating ones stay until their process is gone)."""
        self._listed: set[str] = set()
        self._terminations: set[asyncio.Task[None]] = set()
        self._finalizing: set[str] = set()
        self._endpoints: dict[ObjectKey, JsonDict] = {}
        self._service_map: dict[str, list[str]] | None = None
        self._services_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._watchers: list[Watcher] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._api: client.ApiClient | None = None
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
        try:
            self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(self.settings.kubeconfig))
        except (config.ConfigException, OSError) as e:
            raise RuntimeError(
                f"cannot load kubeconfig {str(self.settings.kubeconfig)!r}: {e}; "
                "pass the file the Kubernetes API emulator wrote (--kubeconfig)"
            ) from e
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kubelet-api")
        self._http = aiohttp.ClientSession()
        core, apps = client.CoreV1Api(self._api), client.AppsV1Api(self._api)
        resync = self.settings.resync_period.total_seconds()
        self._watchers = [
            Watcher("deployments", apps.list_deployment_for_all_namespaces, self._emit, resync_seconds=resync),
            Watcher("pods", core.list_pod_for_all_namespaces, self._emit, resync_seconds=resync,
                    list_kwargs={"field_selector": f"spec.nodeName={self.settings.node_name}"}),
            Watcher("services", core.list_service_for_all_namespaces, self._emit, resync_seconds=resync),
        ]
        for watcher in self._watchers:
            watcher.start()
        self._task = asyncio.create_task(self._control_loop(), name="kubelet-control-loop")
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(
                f"the kubelet could not list deployments, pods and services within {timeout}s; "
                f"is the Kubernetes API in {str(self.settings.kubeconfig)!r} up?"
            ) from None
        log.info("kubelet started", extra={"node": self.settings.node_name, "state_dir": str(self.settings.state_dir)})

    async def stop(self) -> None:
        """Stop watching, stop every local process (SIGTERM, then SIGKILL), release threads and sockets."""
        loop = asyncio.get_running_loop()
        if self._watchers:
            await asyncio.gather(*(loop.run_in_executor(self._executor, w.stop) for w in self._watchers))
            self._watchers = []
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        grace = self.settings.stop_grace.total_seconds()
        await asyncio.gather(*(pod.terminate(min(grace, pod.grace), run_hook=False) for pod in list(self.local.values())),
                             return_exceptions=True)
        await asyncio.gather(*self._terminations, return_exceptions=True)
        self.local.clear()
        await self._proxy.close()
        if self._service_map:
            write_service_map(self.settings.services_file, {form: [] for form in self._service_map})
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None
        log.info("kubelet stopped", extra={"node": self.settings.node_name})

    # -- what the pods need (PodHost) --------------------------------------------------------
    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("the kubelet is not started; use 'async with Kubelet(settings) as kubelet'")
        return self._http

    def changed(self) -> None:
        self._wake.set()

    def service_addresses(self, host: str, port: int) -> list[str] | None:
        """Ready local addresses of a Service address; None when no Service has that address."""
        return (self._service_map or {}).get(f"{host.lower().rstrip('.')}:{port}")

    async def service_proxy(self, service_address: str) -> str:
        """A stable local address forwarding to the Service's ready pods (what a ClusterIP gives)."""
        return await self._proxy.address(service_address)

    async def services_changed(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._services_event.wait(), timeout)
        except TimeoutError:
            pass

    async def read_objects(
        self, namespace: str, config_maps: set[str], secrets: set[str]
    ) -> tuple[dict[str, JsonDict], dict[str, JsonDict]]:
        core = client.CoreV1Api(self._api)
        found: tuple[dict[str, JsonDict], dict[str, JsonDict]] = ({}, {})
        for names, read, into in ((config_maps, core.read_namespaced_config_map, found[0]),
                                  (secrets, core.read_namespaced_secret, found[1])):
            for name in sorted(names):
                try:
                    into[name] = await self._json(read, name, namespace)
                except ApiException as e:
                    if e.status != 404:
                        raise
        return found

    def processes(self) -> dict[str, int]:
        """`namespace/pod` -> pid of the running local process (for tests and `xtrinode dev status`)."""
        return {f"{p.namespace}/{p.name}": p.process.pid for p in self.local.values()
                if p.process is not None and p.process.returncode is None}

    # -- API calls in threads ----------------------------------------------------------------
    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def _json(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonDict:
        def call() -> JsonDict:
            response = fn(*args, _preload_content=False, **kwargs)
            try:
                result: JsonDict = json.loads(response.data)
            finally:
                response.release_conn()
            return result
        result: JsonDict = await self._call(call)
        return result

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
            cache.clear()
            for obj in event.items:
                if self.settings.manages(key_of(obj)[0]):
                    cache[key_of(obj)] = obj
            self._listed.add(event.kind)
        elif event.obj is not None and self.settings.manages(key_of(event.obj)[0]):
            self._remember(event.kind, event.obj, deleted=event.type == "DELETED")
        self._wake.set()

    def _remember(self, kind: str, obj: JsonDict, *, deleted: bool = False) -> None:
        """Update the cache unless it already holds a newer version (our own writes land first)."""
        cache, key = self.objects[kind], key_of(obj)
        known = cache.get(key)
        if known is not None and known["metadata"].get("uid") == obj["metadata"].get("uid"):
            if int(known["metadata"].get("resourceVersion") or 0) > int(obj["metadata"].get("resourceVersion") or 0):
                return
        if deleted:
            if known is None or known["metadata"].get("uid") == obj["metadata"].get("uid"):
                cache.pop(key, None)
        else:
            cache[key] = obj

    # -- the control loop --------------------------------------------------------------------
    async def _control_loop(self) -> None:
        tick = max(0.2, self.settings.readiness_poll_interval.total_seconds())
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), tick)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._listed.issuperset(_KINDS):
                continue
            try:
                await self._sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("kubelet sync failed; retrying")
                await asyncio.sleep(tick)
            self._synced.set()

    async def _sync(self) -> None:
        self._sync_local_pods()
        await self._reconcile_deployments()
        await self._write_pod_statuses()
        await self._write_deployment_statuses()
        await self._write_endpoints()

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
                if deleting and not local.terminating:
                    self._spawn(self._terminate(local, pod))
        for uid, local in list(self.local.items()):
            if uid not in live and not local.terminating:
                self._spawn(self._terminate(local, None))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro, name="kubelet-termination")
        self._terminations.add(task)
        task.add_done_callback(self._terminations.discard)

    async def _terminate(self, local: LocalPod, pod: JsonDict | None) -> None:
        await local.terminate()
        self.local.pop(local.uid, None)
        if pod is not None:
            await self._finalize(pod)
        self._wake.set()

    async def _finalize(self, pod: JsonDict) -> None:
        """Remove our finalizer from a deleted pod whose process is gone: the API server then drops it."""
        uid = str(pod["metadata"]["uid"])
        if FINALIZER not in (pod["metadata"].get("finalizers") or []) or uid in self._finalizing:
            return
        self._finalizing.add(uid)
        namespace, name = key_of(pod)
        try:
            await self._json(client.CoreV1Api(self._api).patch_namespaced_pod, name, namespace,
                             {"metadata": {"$deleteFromPrimitiveList/finalizers": [FINALIZER]}})
        except ApiException as e:
            if e.status != 404:
                log.warning("cannot remove the pod finalizer", extra={"namespace": namespace, "pod": name,
                                                                      "status": e.status})
                self._finalizing.discard(uid)

    # -- Deployments -------------------------------------------------------------------------
    def _views(self, deployment: JsonDict) -> list[PodView]:
        uid = deployment["metadata"]["uid"]
        current = template_hash((deployment.get("spec") or {}).get("template") or {})
        views = []
        for pod in self.objects["pods"].values():
            if controller_uid(pod) != uid:
                continue
            meta = pod["metadata"]
            local = self.local.get(str(meta["uid"]))
            views.append(PodView(
                name=str(meta["name"]),
                current=(meta.get("labels") or {}).get(TEMPLATE_HASH_LABEL) == current,
                ready=local is not None and local.ready,
                terminating=bool(meta.get("deletionTimestamp")) or (local is not None and local.terminating),
                created=str(meta.get("creationTimestamp") or ""),
            ))
        return views

    async def _reconcile_deployments(self) -> None:
        for deployment in list(self.objects["deployments"].values()):
            meta, spec = deployment["metadata"], deployment.get("spec") or {}
            if meta.get("deletionTimestamp") or spec.get("paused"):
                continue
            plan = plan_rollout(spec, self._views(deployment))
            for _ in range(plan.create):
                await self._create_pod(deployment)
            for name in plan.delete:
                await self._delete_pod(str(meta["namespace"]), name)

    async def _create_pod(self, deployment: JsonDict) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        template = spec.get("template") or {}
        pod_hash = template_hash(template)
        suffix = "".join(random.choices(_SUFFIX_ALPHABET, k=5))
        template_meta = template.get("metadata") or {}
        body: JsonDict = {
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
        try:
            created = await self._json(client.CoreV1Api(self._api).create_namespaced_pod, meta["namespace"], body)
        except ApiException as e:
            log.warning("cannot create a pod", extra={"namespace": meta["namespace"], "deployment": meta["name"],
                                                      "status": e.status, "reason": str(e.reason)[:200]})
            return
        self._remember("pods", created)
        log.info("pod created", extra={"namespace": meta["namespace"], "pod": created["metadata"]["name"]})

    async def _delete_pod(self, namespace: str, name: str) -> None:
        try:
            deleted = await self._json(client.CoreV1Api(self._api).delete_namespaced_pod, name, namespace)
        except ApiException as e:
            if e.status != 404:
                log.warning("cannot delete a pod", extra={"namespace": namespace, "pod": name, "status": e.status})
            return
        if deleted.get("kind") == "Pod":
            self._remember("pods", deleted)

    # -- status, Endpoints, service map -------------------------------------------------------
    async def _write_pod_statuses(self) -> None:
        core = client.CoreV1Api(self._api)
        for local in list(self.local.values()):
            status = local.compute_status()
            if status == local.written_status or local.key not in self.objects["pods"]:
                continue
            try:
                updated = await self._json(core.patch_namespaced_pod_status, local.name, local.namespace,
                                           {"status": status})
            except ApiException as e:
                if e.status != 404:
                    log.warning("cannot write pod status", extra={"namespace": local.namespace, "pod": local.name,
                                                                  "status": e.status})
                continue
            local.written_status = status
            self._remember("pods", updated)

    async def _write_deployment_statuses(self) -> None:
        apps = client.AppsV1Api(self._api)
        now = now_iso()
        for deployment in list(self.objects["deployments"].values()):
            if deployment["metadata"].get("deletionTimestamp"):
                continue
            status = deployment_status(deployment, self._views(deployment), now)
            current = deployment.get("status") or {}
            if all(current.get(k) == v for k, v in status.items()):
                continue
            namespace, name = key_of(deployment)
            try:
                updated = await self._json(apps.patch_namespaced_deployment_status, name, namespace,
                                           {"status": status})
            except ApiException as e:
                if e.status != 404:
                    log.warning("cannot write deployment status", extra={"namespace": namespace,
                                                                         "deployment": name, "status": e.status})
                continue
            self._remember("deployments", updated)

    def _endpoints_of_pods(self) -> list[LocalEndpoint]:
        return [LocalEndpoint(p.namespace, p.name, p.uid, p.labels, p.ready and not p.terminating,
                              [p.container], dict(p.ports))
                for p in self.local.values() if p.ports]

    async def _write_endpoints(self) -> None:
        core = client.CoreV1Api(self._api)
        pods = self._endpoints_of_pods()
        services = list(self.objects["services"].values())
        for service in services:
            key = key_of(service)
            desired = build_endpoints(service, pods)
            if desired is None or self._endpoints.get(key) == desired:
                continue
            try:
                try:
                    await self._json(core.replace_namespaced_endpoints, key[1], key[0], desired)
                except ApiException as e:
                    if e.status != 404:
                        raise
                    await self._json(core.create_namespaced_endpoints, key[0], desired)
            except ApiException as e:
                log.warning("cannot write endpoints", extra={"namespace": key[0], "service": key[1], "status": e.status})
                continue
            self._endpoints[key] = desired
        for key in [k for k in self._endpoints if k not in self.objects["services"]]:
            del self._endpoints[key]
            try:
                await self._json(core.delete_namespaced_endpoints, key[1], key[0])
            except ApiException:
                pass
        mapping = build_service_map(services, pods)
        if mapping != self._service_map:
            write_service_map(self.settings.services_file, mapping)
            self._service_map = mapping
            self._services_event.set()
            self._services_event = asyncio.Event()
