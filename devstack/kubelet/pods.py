"""`LocalPod`: one pod on this machine — its files, env and process, readiness, restarts and termination.

A task per pod: prepare (its podIP, ConfigMaps to files, secretKeyRef env, discovery.uri made local),
start, probe readiness, restart after unexpected exits; `terminate` runs the preStop hook, then
SIGTERM/SIGKILL. Probes and the hook reach the process at the pod's own IP, as in a cluster.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import signal
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from .api import ClusterApiError
from .objects import JsonDict, now_iso, set_condition
from .podspec import (
    HttpProbe,
    ShutdownHook,
    parse_properties,
    readiness_probe,
    referenced_objects,
    resolve_env,
    shutdown_hook,
)
from .podips import HOST_IP, PodAddressPool
from devstack.qos import qos_class

from .process import PodProcess
from .runtime import PodLaunch, PodRuntime
from .settings import KubeletSettings
from .volumes import mount_map, PodConfigError, plan_pod_files, referenced_config_maps, referenced_secrets, write_pod_files

__all__ = ["LocalPod", "PodHost", "deletion_grace"]

log = logging.getLogger("devstack.kubelet.pods")

DEFAULT_HTTP_PORT = 8080
SIGTERM_AFTER_HOOK_SECONDS = 2.0
"""A preStop hook that runs past the grace gets SIGTERM and this much more, as the kubelet does."""


def deletion_grace(pod: Mapping[str, Any]) -> float | None:
    """The grace a deleted pod has (deletionGracePeriodSeconds), or None when it is not being deleted."""
    meta = pod.get("metadata") or {}
    if not meta.get("deletionTimestamp") or meta.get("deletionGracePeriodSeconds") is None:
        return None
    return float(meta["deletionGracePeriodSeconds"])


class PodHost(Protocol):
    """What a pod needs from its kubelet."""

    settings: KubeletSettings
    runtime: PodRuntime
    pod_addresses: PodAddressPool

    @property
    def http(self) -> aiohttp.ClientSession: ...

    async def read_objects(
        self, namespace: str, config_maps: set[str], secrets: set[str]
    ) -> tuple[dict[str, JsonDict], dict[str, JsonDict]]: ...

    def service_addresses(self, host: str, port: int) -> list[str] | None: ...

    def api_pod_ip(self, uid: str, local_ip: str, reported: str | None) -> str: ...

    @property
    def host_ip(self) -> str: ...

    async def service_proxy(self, service_address: str) -> str: ...

    async def services_changed(self, timeout: float) -> None: ...

    def changed(self) -> None: ...


class LocalPod:
    """The local life of one Pod object (matched by uid)."""

    def __init__(self, host: PodHost, pod: Mapping[str, Any]) -> None:
        self.host = host
        self.pod: JsonDict = dict(pod)
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        spec = pod.get("spec") or {}
        self.container: JsonDict = dict((spec.get("containers") or [{}])[0])
        self.grace = float(spec.get("terminationGracePeriodSeconds", 30))
        self.restart_policy = str(spec.get("restartPolicy") or "Always")
        self.directory = host.settings.pods_dir / f"{self.namespace}_{self.name}"
        self.log_path = host.settings.logs_dir / f"{self.namespace}_{self.name}.log"
        self.ip: str | None = None
        """The podIP (a loopback address of its own), from the first start on; kept across restarts."""
        self.api_ip: str | None = None
        """The podIP reported in the API: `ip`, or as node agent its 192.0.2.x stand-in."""
        self.ports: dict[int, int] = {}
        """containerPort -> the port the process listens on at `ip` (the same unless it was taken)."""
        self.process: PodProcess | None = None
        self.ready = False
        self.serving = False
        """The last readiness probe result, probed on while terminating (EndpointSlice `serving`)."""
        self.reported_ready = False
        """Readiness as last published in Endpoints and services.json; pod and Deployment status report this."""
        self.restart_count = 0
        self.waiting: tuple[str, str] | None = ("ContainerCreating", "")
        self.last_terminated: JsonDict | None = None
        self.terminated: JsonDict | None = None
        self.terminating = False
        self.start_time: str | None = None
        self.status: JsonDict = {}
        self.written_status: JsonDict | None = None
        self._env: dict[str, str] = {}
        self._hook: ShutdownHook | None = None
        self._probe: HttpProbe | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        self._deadline = 0.0
        """While terminating: when the grace ends (monotonic); `shorten` brings it forward."""
        self._deadline_moved = asyncio.Event()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.pod["metadata"].get("labels") or {})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kubelet-pod-{self.namespace}/{self.name}")

    # -- preparing -------------------------------------------------------------------------
    async def _prepare(self) -> PodLaunch:
        spec = self.pod.get("spec") or {}
        env_maps, env_secrets = referenced_objects(self.container)
        config_maps, secrets = await self.host.read_objects(
            self.namespace, referenced_config_maps(spec) | env_maps, env_secrets | referenced_secrets(spec)
        )
        planned = plan_pod_files(spec, self.container, config_maps, secrets=secrets)
        config_text = planned.text("config.properties")
        if config_text is None:
            raise PodConfigError(
                f"container {self.container.get('name')!r} has no config.properties under /etc/trino; "
                "mount the rendered config ConfigMap there"
            )
        props = parse_properties(config_text)
        container_port = int(props.get("http-server.http.port", DEFAULT_HTTP_PORT))
        reported = (self.pod.get("status") or {}).get("podIP")  # what a previous kubelet run gave this pod
        # A node agent's reported 192.0.2.x is no loopback address: the pool then picks a fresh one.
        address = self.host.pod_addresses.assign(self.uid, [container_port], reported)
        if address.ip != self.ip and self.ip is not None:
            log.warning("pod moved to another IP: its own is taken", extra={
                "namespace": self.namespace, "pod": self.name, "old_ip": self.ip, "ip": address.ip})
        self.ip, self.ports = address.ip, dict(address.ports)
        self.api_ip = self.host.api_pod_ip(self.uid, self.ip, reported)
        self._env = resolve_env(self.pod, self.container, config_maps, secrets, self.ip, HOST_IP)
        self._probe = readiness_probe(self.container)
        self._hook = shutdown_hook(self.container)
        coordinator = props.get("coordinator", "false").strip().lower() == "true"
        discovery = None
        if props.get("discovery.uri"):
            # Both roles, as in a cluster: a worker announces through trino-<n>-discovery (routes to the
            # coordinator ready or not), the coordinator looks up through trino-<n> (routes once Ready).
            discovery = await self._local_discovery_uri(props["discovery.uri"])
        write_pod_files(self.directory, planned)
        return PodLaunch(
            namespace=self.namespace, pod=self.name, role="coordinator" if coordinator else "worker",
            config_dir=self.directory, port=self.ports[container_port], host=self.ip, log_path=self.log_path,
            env=self._env, discovery_uri=discovery, mounts=mount_map(self.container, self.directory),
        )

    async def _local_discovery_uri(self, uri: str) -> str:
        """discovery.uri with a Service host made local: the Service's stable proxy address, as soon as the
        Service exists (as a ClusterIP exists before its pods are ready: the worker starts with the
        coordinator and its announcements land once the coordinator answers; waiting for a ready endpoint
        made every resume cost two process starts in a row); other hosts are left as written."""
        parts = urlsplit(uri)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = (parts.hostname or "").lower().rstrip(".")
        cluster_name = host.endswith(".svc") or ".svc." in host
        while True:
            addresses = self.host.service_addresses(host, port)
            if addresses is None and not cluster_name:
                return uri
            if addresses is not None:
                local = await self.host.service_proxy(f"{host}:{port}")
                return urlunsplit((parts.scheme, local, parts.path, parts.query, parts.fragment)).rstrip("/")
            self._set_waiting("ContainerCreating", f"waiting for Service {host}:{port} (discovery.uri)")
            await self.host.services_changed(1.0)
            if self._stop.is_set():
                raise asyncio.CancelledError

    # -- running ---------------------------------------------------------------------------
    def _set_waiting(self, reason: str, message: str) -> None:
        if self.waiting != (reason, message):
            self.waiting = (reason, message)
            self.host.changed()

    async def _run(self) -> None:
        backoff = 0.5
        max_backoff = self.host.settings.restart_backoff_max.total_seconds()
        try:
            while not self._stop.is_set():
                try:
                    launch = await self._prepare()
                    if self._stop.is_set():
                        break
                    process = await self.host.runtime.start(launch)
                except Exception as e:  # a bad spec or a failed read must not end the pod's supervision
                    reason = "CreateContainerConfigError" if isinstance(e, PodConfigError) else "CreateContainerError"
                    message = str(e) if isinstance(e, (PodConfigError, ClusterApiError, OSError)) else type(e).__name__
                    log.warning("pod cannot start", extra={"namespace": self.namespace, "pod": self.name,
                                                           "reason": reason, "error": message})
                    self._set_waiting(reason, message)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, max_backoff)
                    continue
                self.process = process
                self.start_time = self.start_time or process.started_at
                self.waiting = None
                self.terminated = None
                log.info("pod process started", extra={
                    "namespace": self.namespace, "pod": self.name, "pid": process.pid, "ip": launch.host,
                    "port": launch.port, "role": launch.role})
                self.host.changed()
                started = time.monotonic()
                code = await self._supervise(process)
                if self._stop.is_set():
                    break
                if time.monotonic() - started > max_backoff:
                    backoff = 0.5  # it ran well for a while: this crash starts a fresh back-off
                self.last_terminated = self._termination(process, code)
                self._observe(False)
                if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
                    self.terminated = self.last_terminated
                    self.host.changed()
                    return
                self.restart_count += 1
                log.warning("pod process exited; restarting", extra={"namespace": self.namespace, "pod": self.name,
                                                                    "exit_code": code, "restarts": self.restart_count})
                self._set_waiting("CrashLoopBackOff", f"back-off {backoff:g}s restarting failed container")
                await self._sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
        except asyncio.CancelledError:
            pass

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    def _termination(self, process: PodProcess, code: int) -> JsonDict:
        return {"exitCode": code if code >= 0 else 128 - code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": process.started_at, "finishedAt": now_iso(),
                "containerID": process.container_id}

    async def _supervise(self, process: PodProcess) -> int:
        """Probe readiness until the process exits, terminating or not (as a kubelet does); returns the
        exit code."""
        interval = self.host.settings.readiness_poll_interval.total_seconds()
        next_probe = 0.0
        while True:
            # Every poll interval until ready and while terminating; a ready pod again after its probe's
            # periodSeconds, as a kubelet does (hundreds of ready pods probed every 0.1 s were most of the
            # kubelet's work in scale runs).
            now = time.monotonic()
            if now >= next_probe or not self.ready or self.terminating:
                self._observe(await self._probe_ready())
                period = self._probe.period_seconds if self._probe is not None else interval
                next_probe = now + max(interval, period)
            code = await process.wait(interval)
            if code is not None:
                return code

    async def _probe_ready(self) -> bool:
        probe = self._probe
        if probe is None:
            return True
        local = self.ports.get(probe.port)
        if local is None or self.ip is None:
            return False
        timeout = self.host.settings.probe_timeout.total_seconds()
        if probe.path is None:
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(self.ip, local)
                writer.close()
                await writer.wait_closed()
                return True
            except (OSError, TimeoutError):
                return False
        url = f"{probe.scheme.lower()}://{self.ip}:{local}{probe.path}"
        try:
            async with self.host.http.get(url, headers=dict(probe.headers),
                                          timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                if not 200 <= response.status < 400:
                    return False
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            return False
        # Trino answers /v1/info with 200 while still starting: ready only once `starting` is false.
        return b'"starting":true' not in body.replace(b" ", b"")

    def _observe(self, probed: bool) -> None:
        """A probe result (or False: the process is gone): serving as it says, ready unless terminating."""
        if probed != self.serving:
            self.serving = probed
            self.host.changed()
        self._set_ready(probed)

    def _set_ready(self, ready: bool) -> None:
        if self.terminating and ready:
            return
        if ready != self.ready:
            self.ready = ready
            log.info("pod readiness", extra={"namespace": self.namespace, "pod": self.name, "ready": ready})
            self.host.changed()

    # -- terminating -----------------------------------------------------------------------
    async def terminate(self, grace: float | None = None, *, run_hook: bool = True) -> None:
        """preStop hook (Trino: PUT SHUTTING_DOWN, wait for exit), then SIGTERM, SIGKILL at the deadline.

        `shorten` while this runs brings the deadline forward, as a kubelet honours a second DELETE with a
        shorter grace: a hook still running then is cut off (SIGTERM, SIGKILL 2 s later)."""
        if self.terminating:
            if grace is not None:
                self.shorten(grace)
            await self.finished.wait()
            return
        self.terminating = True
        self._stop.set()
        self._set_ready(False)
        grace = self.grace if grace is None else min(grace, self.grace)
        self._deadline = time.monotonic() + grace
        process = self.process
        try:
            if process is not None and process.returncode is None:
                code = await self._stop_process(process, run_hook)
                self.terminated = self._termination(process, code)
                log.info("pod process stopped", extra={"namespace": self.namespace, "pod": self.name,
                                                       "pid": process.pid, "exit_code": code})
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            shutil.rmtree(self.directory, ignore_errors=True)
        finally:
            self.finished.set()
            self.host.changed()

    def shorten(self, grace: float) -> None:
        """A shorter grace for a pod being terminated (a DELETE with a smaller gracePeriodSeconds)."""
        deadline = time.monotonic() + max(0.0, grace)
        if self.terminating and deadline < self._deadline:
            log.info("pod grace shortened", extra={"namespace": self.namespace, "pod": self.name, "grace": grace})
            self._deadline = deadline
            self._deadline_moved.set()

    async def _stop_process(self, process: PodProcess, run_hook: bool) -> int:
        """Hook and SIGTERM within the deadline (which may move), then SIGKILL; the exit code."""
        sigterm_sent = asyncio.Event()

        async def graceful() -> int:
            if self._hook is not None and run_hook:
                await self._run_hook(self._hook, process)
            sigterm_sent.set()
            process.send(signal.SIGTERM)
            code = await process.wait()
            assert code is not None
            return code

        task = asyncio.create_task(graceful(), name=f"kubelet-stop-{self.namespace}/{self.name}")
        try:
            while not task.done():
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._deadline_moved.clear()
                moved = asyncio.create_task(self._deadline_moved.wait())
                await asyncio.wait({task, moved}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                moved.cancel()
                await asyncio.gather(moved, return_exceptions=True)
            if task.done():
                return task.result()
            if not sigterm_sent.is_set():  # the hook overran the grace: SIGTERM, then a short last grace
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                process.send(signal.SIGTERM)
                code = await process.wait(SIGTERM_AFTER_HOOK_SECONDS)
                if code is not None:
                    return code
            process.send(signal.SIGKILL)
            code = await process.wait()
            assert code is not None
            return code
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _run_hook(self, hook: ShutdownHook, process: PodProcess) -> None:
        """Send the hook; when it waits for the exit, wait (the caller bounds it by the deadline)."""
        local = self.ports.get(hook.port)
        if local is None or self.ip is None:
            return
        headers = dict(hook.headers)
        if hook.user:
            headers["X-Trino-User"] = hook.user
        if hook.password_env and hook.user and hook.password_env in self._env:
            # curl -u user:password, as the rendered hook runs it (aiohttp's BasicAuth helper is deprecated)
            token = base64.b64encode(f"{hook.user}:{self._env[hook.password_env]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        url = f"http://{self.ip}:{local}{hook.path}"  # the hook's localhost is the pod's own address
        try:
            async with self.host.http.request(
                hook.method, url, data=hook.body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=max(0.1, min(5.0, self._deadline - time.monotonic()))),
            ) as response:
                if response.status >= 300:
                    log.warning("preStop hook refused", extra={"namespace": self.namespace, "pod": self.name,
                                                               "status": response.status})
                    return
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("preStop hook failed", extra={"namespace": self.namespace, "pod": self.name,
                                                      "error": type(e).__name__})
            return
        log.info("preStop hook sent", extra={"namespace": self.namespace, "pod": self.name, "path": hook.path})
        if hook.wait_for_exit:
            await process.wait()

    # -- status ----------------------------------------------------------------------------
    def compute_status(self) -> JsonDict:
        """The Pod `.status` this kubelet reports now (conditions keep their transition times)."""
        now = now_iso()
        previous = self.status.get("conditions") or []
        started = self.process is not None
        conditions = set_condition(previous, "PodScheduled", True, "", "", now)
        conditions = set_condition(conditions, "Initialized", True, "", "", now)
        ready = self.reported_ready
        conditions = set_condition(conditions, "ContainersReady", ready, "" if ready else "ContainersNotReady", "", now)
        conditions = set_condition(conditions, "Ready", ready, "" if ready else "ContainersNotReady", "", now)
        for cond in conditions:
            if not cond.get("reason"):
                cond.pop("reason", None)
            if not cond.get("message"):
                cond.pop("message", None)
        state: JsonDict
        if self.terminated is not None:
            state = {"terminated": self.terminated}
        elif self.waiting is not None:
            reason, message = self.waiting
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        else:
            assert self.process is not None
            state = {"running": {"startedAt": self.process.started_at}}
        container: JsonDict = {
            "name": self.container.get("name", "trino"), "image": self.container.get("image", ""), "imageID": "",
            "ready": ready, "restartCount": self.restart_count, "started": started and self.waiting is None,
            "state": state, "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.process is not None:
            container["containerID"] = self.process.container_id
        if self.terminated is not None and not self.terminating:
            phase = "Succeeded" if self.terminated.get("exitCode") == 0 else "Failed"
        else:
            phase = "Running" if started else "Pending"
        host_ip = self.host.host_ip
        status: JsonDict = {"phase": phase, "conditions": conditions, "containerStatuses": [container],
                            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                            "qosClass": qos_class(self.pod.get("spec") or {})}
        pod_ip = self.api_ip or self.ip
        if pod_ip is not None:
            status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
        if started:
            status["startTime"] = self.start_time
        self.status = status
        return status
