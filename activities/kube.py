"""Kubernetes activities: server-side apply, scale, readiness of Deployments, routes ConfigMap,
CR status, Events, finalizer, deletion. Sync methods on one object holding the official client;
the lifecycle worker runs them on a thread pool. Every one is idempotent."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.payloads import (
    ApplyInput,
    ApplyResult,
    DeleteOwnedInput,
    DeleteOwnedResult,
    EventInput,
    FinalizerInput,
    KedaPauseInput,
    PodsResult,
    RouteUpdate,
    RuntimeRef,
    ScaleInput,
    StatusPatch,
    StopPodsInput,
    WaitPodsGoneInput,
)
from activities.spans import traced
from xtrinode.admission import control_user_problem
from xtrinode.render.config import control_username
from xtrinode.render.overlay import PASSWORD_KEY
from xtrinode.render.overlay import overlay as overlay_of
from xtrinode.models import (
    API_GROUP,
    API_VERSION,
    ROUTES_CONFIGMAP,
    ROUTES_KEY,
    RouteEntry,
    RouteTable,
    XTrinode,
    XTrinodeCatalog,
)
from xtrinode.render import (
    CONFIG_HASH_ANNOTATION,
    RenderError,
    RenderSettings,
    coordinator_deployment_name,
    coordinator_service_url,
    render_runtime,
    select_catalogs,
    worker_deployment_name,
)

__all__ = ["FIELD_MANAGER", "FINALIZER", "KubeActivitySettings", "KubernetesActivities", "PodProblem",
           "CONFIG_REASONS"]

FIELD_MANAGER = "xtrinode"
EVENTS_CONTROLLER = "analytics.xtrinode.io/lifecycle"
"""reportingController of the Events the lifecycle writes (events.k8s.io/v1)."""
FINALIZER = "analytics.xtrinode.io/lifecycle"
KEDA_PAUSED = "autoscaling.keda.sh/paused"
_T = TypeVar("_T")
_WORKLOAD_KINDS = frozenset({"Deployment", "ScaledObject"})
_APPLY_THREADS = 6
# Kinds render emits for a runtime, deleted by label on DeleteRuntime.
_OWNED_KINDS = (
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
)


CONFIG_REASONS = frozenset({"CreateContainerConfigError", "InvalidImageName"})
_ANY = object()
"""No Deployment for a pod's component: every pod of it counts."""
"""Waiting reasons that only a change (a Secret or ConfigMap created, a fixed image name) can end."""
_CRASH_REASONS = frozenset({"CrashLoopBackOff", "CreateContainerError", "RunContainerError"})
_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})
"""Reported while waiting (a registry may recover), never failing the wait early."""


class ReadyPod(BaseModel):
    """A Ready pod and how long it has been Ready (by its Ready condition's lastTransitionTime)."""

    name: str
    ready_seconds: float


class PodProblem(BaseModel):
    """What Kubernetes says keeps a pod of the runtime from running (a container waiting reason, an
    unschedulable pod)."""

    pod: str
    reason: str
    message: str

    @property
    def permanent(self) -> bool:
        return self.reason in CONFIG_REASONS

    def describe(self) -> str:
        return f"pod {self.pod}: {self.reason}: {self.message}" if self.message else f"pod {self.pod}: {self.reason}"


class KubeActivitySettings(BaseModel):
    gateway_namespace: str = Field(default="xtrinode-gateway", description="Where the routes ConfigMap lives.")
    render: RenderSettings = Field(default_factory=RenderSettings)
    component: str = Field(default="xtrinode-lifecycle", description="Event source component.")


def _status_message(e: ApiException) -> str:
    body = e.body if isinstance(e.body, str) else ""
    try:
        return str(json.loads(body).get("message", ""))[:300]
    except ValueError:
        return body[:300]


def _instance_selector(name: str) -> str:
    return f"app.kubernetes.io/instance={name},app.kubernetes.io/managed-by=xtrinode"


class KubernetesActivities:
    """Activities that talk to the Kubernetes API through one `ApiClient`."""

    def __init__(self, api: client.ApiClient, settings: KubeActivitySettings | None = None) -> None:
        self.api = api
        self.settings = settings or KubeActivitySettings()
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._dynamic: DynamicClient | None = None
        self._events_api: str | None = None

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)  # type: ignore[no-untyped-call]
        return self._dynamic

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        """Convert API errors at the edge: 4xx that can never succeed are non-retryable."""
        try:
            return fn()
        except ApiException as e:
            message = f"{what}: HTTP {e.status} {_status_message(e)}"
            permanent = e.status in (400, 403, 415, 422)
            raise ApplicationError(message, type="KubernetesError", non_retryable=permanent) from e

    # -- apply -----------------------------------------------------------------------------
    @activity.defn(name="apply_runtime")
    @traced("kubernetes")
    def apply_runtime(self, inp: ApplyInput) -> ApplyResult:
        """Render the runtime and server-side apply every object with field manager `xtrinode`."""
        runtime = XTrinode.model_validate(inp.runtime)
        catalogs = [XTrinodeCatalog.model_validate(c) for c in inp.catalogs]
        try:
            manifests = render_runtime(runtime, catalogs, self.settings.render, secret_versions=inp.secret_versions)
        except RenderError as e:
            raise ApplicationError(str(e), type="InvalidSpec", non_retryable=True) from e
        self._check_control_user(runtime)
        replicas = {
            coordinator_deployment_name(runtime): inp.coordinator_replicas,
            worker_deployment_name(runtime): inp.worker_replicas,
        }
        for manifest in manifests:
            if manifest["kind"] == "Deployment":
                manifest["spec"]["replicas"] = replicas.get(manifest["metadata"]["name"], manifest["spec"]["replicas"])
        # Two waves, each applied concurrently (one request per object made a resume's apply ~50 ms):
        # what the workloads reference first, then the workloads, so a new pod never misses its ConfigMap.
        waves = [[m for m in manifests if m["kind"] not in _WORKLOAD_KINDS],
                 [m for m in manifests if m["kind"] in _WORKLOAD_KINDS]]
        applied: list[str] = []
        with ThreadPoolExecutor(max_workers=_APPLY_THREADS, thread_name_prefix="kube-apply") as pool:
            for wave in waves:
                list(pool.map(self._apply, wave))  # the first failure raises here, after the wave settles
                applied += [f"{m['kind']}/{m['metadata']['name']}" for m in wave]
                activity.heartbeat(len(applied))
        selected = select_catalogs(runtime, catalogs)
        return ApplyResult(
            applied=applied,
            coordinator_url=coordinator_service_url(runtime, self.settings.render),
            catalogs=sorted(c.trino_name for c in selected),
        )

    def _check_control_user(self, runtime: XTrinode) -> None:
        """With PASSWORD auth the control user must be in the password file, or every control call fails.

        Admission checks it when it can read the Secret; this check runs on every provision. A missing
        Secret is retried (it may be created next); a file without the user fails until the Secret changes
        (the operator forwards that change, which provisions again).
        """
        values = overlay_of(runtime)
        if "PASSWORD" not in values.auth_types() or values.auth is None or values.auth.password_auth_secret is None:
            return
        name = values.auth.password_auth_secret
        text = self._call(f"read Secret {runtime.namespace}/{name}",
                          lambda: self.secret_value(runtime.namespace, name, PASSWORD_KEY))
        if text is None:
            raise ApplicationError(
                f"valuesOverlay.auth.passwordAuthSecret: Secret {name!r} with key {PASSWORD_KEY!r} is not in namespace "
                f"{runtime.namespace!r}; create it (Trino's password file, with the control user)", type="MissingSecret")
        problem = control_user_problem(text, control_username(runtime), name)
        if problem is not None:
            raise ApplicationError(f"valuesOverlay.auth.passwordAuthSecret: {problem}", type="InvalidSpec",
                                   non_retryable=True)

    def _apply(self, manifest: dict[str, Any]) -> None:
        meta = manifest["metadata"]
        try:
            resource = self.dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        except ResourceNotFoundError as e:
            raise ApplicationError(
                f"the cluster does not serve {manifest['apiVersion']} {manifest['kind']}; install its CRD "
                "(for ScaledObject: KEDA) or disable the feature in the spec",
                type="MissingResourceType",
            ) from e
        self._call(
            f"apply {manifest['kind']} {meta.get('namespace')}/{meta['name']}",
            lambda: self.dynamic.server_side_apply(  # type: ignore[no-untyped-call]
                resource, body=manifest, name=meta["name"], namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER, force_conflicts=True,
            ),
        )

    # -- workloads -------------------------------------------------------------------------
    def _deployment_name(self, ref: RuntimeRef, role: str) -> str:
        return coordinator_deployment_name(ref.name) if role == "coordinator" else worker_deployment_name(ref.name)

    @activity.defn(name="scale_deployment")
    @traced("kubernetes")
    def scale_deployment(self, inp: ScaleInput) -> int:
        """Set replicas through the scale subresource; a missing Deployment is already at zero."""
        name = self._deployment_name(inp.ref, inp.role)
        try:
            self.apps.patch_namespaced_deployment_scale(
                name, inp.ref.namespace, {"spec": {"replicas": inp.replicas}},
                _content_type="application/merge-patch+json",
            )
        except ApiException as e:
            if e.status == 404 and inp.replicas == 0:
                return 0
            raise ApplicationError(f"scale {inp.ref.namespace}/{name}: HTTP {e.status} {_status_message(e)}",
                                   type="KubernetesError", non_retryable=e.status in (400, 422)) from e
        return inp.replicas

    @activity.defn(name="deployment_available")
    @traced("kubernetes")
    def deployment_available(self, inp: ScaleInput) -> int:
        """Available replicas of a role's Deployment (0 when it does not exist)."""
        name = self._deployment_name(inp.ref, inp.role)
        try:
            dep = self.apps.read_namespaced_deployment_status(name, inp.ref.namespace)
        except ApiException as e:
            if e.status == 404:
                return 0
            raise
        return int((dep.status and dep.status.available_replicas) or 0)

    def _template_hashes(self, ref: RuntimeRef) -> dict[str, str | None]:
        """component -> the config-hash annotation of its Deployment's pod template now."""
        deployments = self._call("list deployments", lambda: self.apps.list_namespaced_deployment(
            ref.namespace, label_selector=_instance_selector(ref.name)))
        hashes: dict[str, str | None] = {}
        for dep in deployments.items:
            component = ((dep.metadata and dep.metadata.labels) or {}).get("app.kubernetes.io/component")
            template = dep.spec.template if dep.spec is not None else None
            annotations = (template.metadata.annotations if template is not None and template.metadata else None) or {}
            if component:
                hashes[str(component)] = annotations.get(CONFIG_HASH_ANNOTATION)
        return hashes

    def pod_problem(self, ref: RuntimeRef) -> PodProblem | None:
        """The first reason a pod of the runtime cannot run, as its status says (not an activity: the
        readiness wait calls it while it waits)."""
        pods = self._call("list pods", lambda: self.core.list_namespaced_pod(
            ref.namespace, label_selector=_instance_selector(ref.name)))
        current = self._template_hashes(ref)
        for pod in pods.items:
            meta, status = pod.metadata, pod.status
            if meta is None or status is None or meta.deletion_timestamp is not None:
                continue
            expected = current.get(str((meta.labels or {}).get("app.kubernetes.io/component")), _ANY)
            if expected is not _ANY and (meta.annotations or {}).get(CONFIG_HASH_ANNOTATION) != expected:
                # A pod of the previous template: its controller replaces it (a Deployment controller only
                # deletes it once the new one is up, or after scaling the old ReplicaSet down); its problem
                # (the Secret that was missing then) is not the new template's.
                continue
            for cs in status.container_statuses or []:
                waiting = cs.state.waiting if cs.state is not None else None
                if waiting is None or not waiting.reason:
                    continue
                message = waiting.message or ""
                if waiting.reason in _CRASH_REASONS and cs.last_state is not None and cs.last_state.terminated:
                    ended = cs.last_state.terminated
                    message = (f"{message}; last exit code {ended.exit_code} ({ended.reason or 'Error'}"
                               f"{': ' + ended.message if ended.message else ''}), {cs.restart_count} restarts")
                if waiting.reason in CONFIG_REASONS | _CRASH_REASONS | _PULL_REASONS:
                    return PodProblem(pod=str(meta.name), reason=str(waiting.reason), message=message.strip("; "))
            for condition in status.conditions or []:
                if condition.type == "PodScheduled" and condition.status == "False" and condition.reason:
                    return PodProblem(pod=str(meta.name), reason=str(condition.reason), message=condition.message or "")
        return None

    def ready_worker_pods(self, ref: RuntimeRef) -> list[ReadyPod]:
        """The runtime's worker pods of the current template that are Ready, with how long they have been
        (not an activity: the readiness wait asks while it waits)."""
        selector = f"{_instance_selector(ref.name)},app.kubernetes.io/component=worker"
        pods = self._call("list pods", lambda: self.core.list_namespaced_pod(ref.namespace, label_selector=selector))
        expected = self._template_hashes(ref).get("worker", _ANY)
        now = datetime.now(UTC)
        ready: list[ReadyPod] = []
        for pod in pods.items:
            meta, status = pod.metadata, pod.status
            if meta is None or meta.name is None or status is None or meta.deletion_timestamp is not None:
                continue
            if expected is not _ANY and (meta.annotations or {}).get(CONFIG_HASH_ANNOTATION) != expected:
                continue
            for condition in status.conditions or []:
                if condition.type == "Ready" and condition.status == "True":
                    since = condition.last_transition_time
                    seconds = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
                    ready.append(ReadyPod(name=str(meta.name), ready_seconds=seconds))
        return ready

    def restart_pod(self, ref: RuntimeRef, name: str, why: str) -> None:
        """Delete one pod of the runtime (its ReplicaSet makes a new one) and say why in an Event on the
        XTrinode (not an activity: the readiness wait does this for a worker its coordinator never lists)."""
        try:
            self.core.delete_namespaced_pod(name, ref.namespace)
        except ApiException as e:
            if e.status == 404:
                return
            raise ApplicationError(f"delete pod {ref.namespace}/{name}: HTTP {e.status} {_status_message(e)}",
                                   type="KubernetesError") from e
        self.emit_event(EventInput(ref=ref, reason="WorkerRestarted", type="Warning", message=why))

    @activity.defn(name="wait_pods_gone")
    @traced("kubernetes")
    def wait_pods_gone(self, inp: WaitPodsGoneInput) -> PodsResult:
        """Wait (heartbeating) until at most `at_most` pods of the role remain, or the timeout."""
        selector = f"{_instance_selector(inp.ref.name)},app.kubernetes.io/component={inp.role}"
        start = time.monotonic()
        while True:
            pods = self._call("list pods", lambda: self.core.list_namespaced_pod(inp.ref.namespace,
                                                                                 label_selector=selector))
            remaining = len(pods.items)
            waited = time.monotonic() - start
            activity.heartbeat({"remaining": remaining, "waited": round(waited, 1)})
            if remaining <= inp.at_most:
                return PodsResult(remaining=remaining, waited_seconds=waited, timed_out=False)
            if waited >= inp.timeout_seconds:
                return PodsResult(remaining=remaining, waited_seconds=waited, timed_out=True)
            time.sleep(inp.poll_seconds)

    @activity.defn(name="stop_pods")
    @traced("kubernetes")
    def stop_pods(self, inp: StopPodsInput) -> PodsResult:
        """Scale the role's Deployment to zero and delete its pods with `grace_seconds` (a pod already
        terminating with a longer grace gets the shorter one), until none is left or the timeout.

        Pods are deleted on every round, so one a controller made before it saw the scale-down goes too."""
        self.scale_deployment(ScaleInput(ref=inp.ref, role=inp.role, replicas=0))
        selector = f"{_instance_selector(inp.ref.name)},app.kubernetes.io/component={inp.role}"
        start = time.monotonic()
        while True:
            pods = self._call("list pods", lambda: self.core.list_namespaced_pod(inp.ref.namespace,
                                                                                 label_selector=selector))
            for pod in pods.items:
                meta = pod.metadata
                if meta is None or meta.name is None:
                    continue
                grace = meta.deletion_grace_period_seconds
                if meta.deletion_timestamp is not None and grace is not None and grace <= inp.grace_seconds:
                    continue
                try:
                    self.core.delete_namespaced_pod(meta.name, inp.ref.namespace,
                                                    grace_period_seconds=inp.grace_seconds)
                except ApiException as e:
                    if e.status != 404:
                        raise ApplicationError(f"delete pod {inp.ref.namespace}/{meta.name}: HTTP {e.status} "
                                               f"{_status_message(e)}", type="KubernetesError") from e
            remaining = len(pods.items)
            waited = time.monotonic() - start
            activity.heartbeat({"remaining": remaining, "waited": round(waited, 1)})
            if remaining == 0:
                return PodsResult(remaining=0, waited_seconds=waited, timed_out=False)
            if waited >= inp.timeout_seconds:
                return PodsResult(remaining=remaining, waited_seconds=waited, timed_out=True)
            time.sleep(inp.poll_seconds)

    @activity.defn(name="set_keda_paused")
    @traced("kubernetes")
    def set_keda_paused(self, inp: KedaPauseInput) -> bool:
        """Pause or unpause the runtime's ScaledObject; False when it has none."""
        name = f"trino-{inp.ref.name}-workers"
        value: str | None = "true" if inp.paused else None
        try:
            self.custom.patch_namespaced_custom_object(
                "keda.sh", "v1alpha1", inp.ref.namespace, "scaledobjects", name,
                {"metadata": {"annotations": {KEDA_PAUSED: value}}},
            )
        except ApiException as e:
            if e.status == 404:
                return False
            raise ApplicationError(f"pause ScaledObject {name}: HTTP {e.status} {_status_message(e)}",
                                   type="KubernetesError") from e
        return True

    # -- routes ----------------------------------------------------------------------------
    @activity.defn(name="set_route")
    @traced("kubernetes")
    def set_route(self, inp: RouteUpdate) -> str:
        """Upsert or remove this runtime's entry in routes.yaml; optimistic concurrency, never
        losing another runtime's entry (a 409 re-reads and retries)."""
        ns = self.settings.gateway_namespace
        for _attempt in range(20):
            try:
                cm = self.core.read_namespaced_config_map(ROUTES_CONFIGMAP, ns)
                exists = True
            except ApiException as e:
                if e.status != 404:
                    raise
                cm, exists = None, False
            text = ((cm.data or {}).get(ROUTES_KEY, "") if cm is not None else "")
            try:
                table = RouteTable.from_yaml(text)
            except ValueError:
                activity.logger.warning("routes.yaml is not valid; rewriting it from this runtime's entry")
                table = RouteTable()
            if inp.runtime is None:
                table = table.remove(inp.ref.namespace, inp.ref.name)
            else:
                table = table.upsert(self._route_entry(inp))
            body: dict[str, Any] = {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROUTES_CONFIGMAP, "namespace": ns,
                             "labels": {"app.kubernetes.io/managed-by": "xtrinode"}},
                "data": {ROUTES_KEY: table.to_yaml()},
            }
            try:
                if not exists:
                    self.core.create_namespaced_config_map(ns, body)  # type: ignore[arg-type]
                else:
                    assert cm is not None and cm.metadata is not None
                    if (cm.data or {}).get(ROUTES_KEY) == body["data"][ROUTES_KEY]:
                        return inp.state if inp.runtime is not None else "REMOVED"
                    body["metadata"]["resourceVersion"] = cm.metadata.resource_version
                    self.core.replace_namespaced_config_map(ROUTES_CONFIGMAP, ns, body)  # type: ignore[arg-type]
                return inp.state if inp.runtime is not None else "REMOVED"
            except ApiException as e:
                if e.status == 409:
                    time.sleep(0.05)
                    continue
                if e.status == 404:
                    raise ApplicationError(
                        f"namespace {ns!r} for the gateway routes does not exist; create it or set "
                        "gatewayNamespace", type="KubernetesError") from e
                raise
        raise ApplicationError("routes ConfigMap kept changing under us (20 conflicts)", type="RouteConflict")

    def _route_entry(self, inp: RouteUpdate) -> RouteEntry:
        assert inp.runtime is not None
        runtime = XTrinode.model_validate(inp.runtime)
        routing = runtime.spec.routing
        return RouteEntry(
            namespace=runtime.namespace,
            name=runtime.name,
            backend=inp.backend or coordinator_service_url(runtime, self.settings.render),
            state=inp.state,
            routing_group=runtime.routing_group,
            hostname=routing.hostname if routing else None,
            hostname_domain=routing.hostname_domain if routing else None,
            header=routing.header if routing else None,
            default=bool(routing and routing.default),
            capacity_units=routing.capacity_units if routing else 1,
            workflow_id=runtime.workflow_id,
            message=inp.message,
        )

    # -- the XTrinode object ---------------------------------------------------------------
    @activity.defn(name="patch_status")
    @traced("kubernetes")
    def patch_status(self, inp: StatusPatch) -> bool:
        """Merge-patch the CR status subresource; False when the object is gone. Once written, records
        the lifecycle metrics the workflow handed over (activities/metrics.py)."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, inp.ref.namespace, "xtrinodes", inp.ref.name, {"status": inp.status})
        except ApiException as e:
            if e.status == 404:
                metrics.STATUS_WRITES.labels("gone").inc()
                return False
            raise ApplicationError(f"patch status of {inp.ref.namespace}/{inp.ref.name}: HTTP {e.status} "
                                   f"{_status_message(e)}", type="KubernetesError",
                                   non_retryable=e.status in (400, 422)) from e
        metrics.STATUS_WRITES.labels("written").inc()
        phase = inp.status.get("phase")
        if inp.previous_phase is not None and isinstance(phase, str) and phase != inp.previous_phase:
            metrics.PHASE_TRANSITIONS.labels(inp.previous_phase, phase).inc()
        if inp.step is not None:
            metrics.STEP_SECONDS.labels(inp.step.step, inp.step.outcome).observe(inp.step.seconds)
        if inp.resume is not None:
            metrics.RESUMES.labels(inp.resume.outcome).inc()
            if inp.resume.outcome == "ready":
                metrics.RESUME_SECONDS.observe(inp.resume.seconds)
        return True

    def _events_v1(self) -> bool:
        """Whether the API offers events.k8s.io/v1 (asked once): Events go there, else to core/v1."""
        if self._events_api is None:
            try:
                self.dynamic.resources.get(api_version="events.k8s.io/v1", kind="Event")
                self._events_api = "events.k8s.io/v1"
            except ResourceNotFoundError:
                self._events_api = "v1"
        return self._events_api == "events.k8s.io/v1"

    @activity.defn(name="emit_event")
    @traced("kubernetes")
    def emit_event(self, inp: EventInput) -> None:
        """An Event about the XTrinode: events.k8s.io/v1 when the API offers it, else core/v1."""
        now = datetime.now(UTC)
        name = f"{inp.ref.name}.{uuid.uuid4().hex[:16]}"
        regarding = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "XTrinode", "name": inp.ref.name,
                     "namespace": inp.ref.namespace, "uid": inp.ref.uid or ""}
        try:
            if self._events_v1():
                # Through CustomObjectsApi: the body goes as written (the typed client would re-serialize
                # eventTime and drop a zero fraction, which is no MicroTime).
                self.custom.create_namespaced_custom_object("events.k8s.io", "v1", inp.ref.namespace, "events", {
                    "apiVersion": "events.k8s.io/v1", "kind": "Event",
                    "metadata": {"name": name, "namespace": inp.ref.namespace},
                    "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "reportingController": EVENTS_CONTROLLER, "reportingInstance": self.settings.component,
                    "action": inp.reason, "reason": inp.reason, "note": inp.message[:1000], "type": inp.type,
                    "regarding": regarding,
                })
                return
            stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.core.create_namespaced_event(inp.ref.namespace, {  # type: ignore[arg-type]
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": inp.ref.namespace},
                "involvedObject": regarding, "reason": inp.reason, "message": inp.message[:1000], "type": inp.type,
                "source": {"component": self.settings.component},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            })
        except ApiException as e:
            if e.status != 404:  # namespace gone: nobody to tell
                raise

    @activity.defn(name="set_finalizer")
    @traced("kubernetes")
    def set_finalizer(self, inp: FinalizerInput) -> bool:
        """Add or remove our finalizer; False when the object no longer exists."""
        for _attempt in range(20):
            try:
                obj: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
                    API_GROUP, API_VERSION, inp.ref.namespace, "xtrinodes", inp.ref.name)
            except ApiException as e:
                if e.status == 404:
                    return False
                raise
            meta = obj["metadata"]
            finalizers = list(meta.get("finalizers") or [])
            if (FINALIZER in finalizers) == inp.present:
                return True
            if inp.present and meta.get("deletionTimestamp"):
                return False
            finalizers = [*finalizers, FINALIZER] if inp.present else [f for f in finalizers if f != FINALIZER]
            patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
            try:
                self.custom.patch_namespaced_custom_object(
                    API_GROUP, API_VERSION, inp.ref.namespace, "xtrinodes", inp.ref.name, patch)
                return True
            except ApiException as e:
                if e.status == 409:
                    continue
                if e.status == 404:
                    return False
                raise
        raise ApplicationError("XTrinode kept changing while updating its finalizer", type="Conflict")

    @activity.defn(name="delete_owned")
    @traced("kubernetes")
    def delete_owned(self, inp: DeleteOwnedInput) -> DeleteOwnedResult:
        """Delete every object render made for the runtime (by label); missing ones are fine."""
        deleted = []
        selector = _instance_selector(inp.ref.name)
        for api_version, kind in _OWNED_KINDS:
            try:
                resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                continue
            listing: Any = self._call(
                f"list {kind}", lambda: resource.get(namespace=inp.ref.namespace, label_selector=selector))
            items = listing.items
            for item in items:
                try:
                    resource.delete(name=item.metadata.name, namespace=inp.ref.namespace,
                                    body={"propagationPolicy": "Background"})
                    deleted.append(f"{kind}/{item.metadata.name}")
                except ApiException as e:
                    if e.status != 404:
                        raise
            activity.heartbeat(len(deleted))
        return DeleteOwnedResult(deleted=deleted)

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret value for in-process use (control auth). Never returned from an activity, so it
        never lands in workflow history."""
        import base64

        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        raw = (secret.data or {}).get(key)
        return base64.b64decode(raw).decode() if raw is not None else None
