"""The operator: watches XTrinode, XTrinodeCatalog and Secret objects and forwards every change to
the runtime's workflow with signal-with-start. It adds the finalizer and decides nothing about the
lifecycle. A Lease makes one replica the active forwarder; lists on start and every resync heal
missed events. It forwards nothing until every informer has listed once: a runtime forwarded before
its catalogs and Secrets are known would be provisioned without them. With `--webhook-cert` and
`--webhook-key` it also serves the validating admission webhook (every replica, Lease or not)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import signal
import socket
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities.kube import FINALIZER
from workers.informer import LISTED, Informer
from workers.health import HealthServer
from workers.temporal_metrics import TemporalSdkMetrics
from workers.lease import LeaseElector
from workers.operator_metrics import FORWARDS, RuntimePhases
from workers.lifecycle import kube_api_client
from workers.webhook import WebhookServer, WebhookSettings
from workers.webhook import add_arguments as add_webhook_arguments
from workers.webhook import settings_from as webhook_settings_from
from workflows.state import RuntimeState
from xtrinode.lifecycle import (
    RUNTIME_WORKFLOW,
    SIGNAL_DELETED,
    SIGNAL_SPEC_CHANGED,
    DeleteRequest,
    SpecChange,
    workflow_id_for,
)
from xtrinode.models import API_GROUP, API_VERSION, XTrinode, XTrinodeCatalog
from xtrinode.render import runtime_secret_references, select_catalogs
from xtrinode.temporal import TemporalSettings, add_temporal_arguments, connect_client, temporal_settings_from_args
from xtrinode.tracing import start_process

__all__ = ["OperatorSettings", "Operator", "main", "settings_from_args"]

log = logging.getLogger("xtrinode.operator")
Key = tuple[str, str]


_TAKEOVER = "takeover"
"""Queue source meaning: this replica just took the Lease."""


class OperatorSettings(BaseModel):
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    kubeconfig: Path | None = Field(default=None, description="kubeconfig path; None = in-cluster config.")
    namespaces: tuple[str, ...] = Field(default=(), description="Watched namespaces; empty = all.")
    resync_period: timedelta = Field(default=timedelta(minutes=5), description="Re-list everything this often.")
    watch_timeout_seconds: int = Field(default=5, ge=1, description="One watch request; bounds stop time.")
    lease_namespace: str = Field(default="xtrinode-system")
    lease_name: str = Field(default="xtrinode-operator")
    lease_duration: timedelta = Field(default=timedelta(seconds=15))
    identity: str = Field(default_factory=lambda: f"{socket.gethostname()}-{id(object()):x}")
    webhook: WebhookSettings | None = Field(
        default=None, description="Serve the admission webhook in this process too; None = not here.")
    health_port: int | None = Field(default=None, description="Port of /healthz, /readyz, /metrics; None = none.")


def _validates(obj: dict[str, Any]) -> bool:
    try:
        XTrinode.model_validate(obj)
    except ValidationError:
        return False
    return True


def _validation_message(error: ValidationError) -> str:
    """The model's reasons, one per field: 'spec.minWorkers: ...; metadata.name: ...'."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)[:1000]


def _marked_invalid(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Valid" and c.get("status") == "False" for c in conditions)


@contextlib.contextmanager
def _counted(signal_name: str) -> Iterator[None]:
    """Count a signal-with-start as sent or failed (the exception goes on: the next event or resync retries)."""
    try:
        yield
    except Exception:
        FORWARDS.labels(signal_name, "failed").inc()
        raise
    FORWARDS.labels(signal_name, "sent").inc()


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class Operator:
    """`async with Operator(temporal, settings):` forwards until the block ends."""

    def __init__(self, temporal: Client, settings: OperatorSettings) -> None:
        self.temporal = temporal
        self.settings = settings
        self.runtimes: dict[Key, dict[str, Any]] = {}
        self.catalogs: dict[Key, dict[str, Any]] = {}
        self.secrets: dict[Key, str] = {}
        self._sent: dict[Key, str] = {}
        self._queue: asyncio.Queue[tuple[str, tuple[str, dict[str, Any]]]] = asyncio.Queue()
        self._informers: list[Informer] = []
        self._listed: set[str] = set()
        """Informers (by ident) whose first list has been handled; forwarding waits for all of them."""
        self._task: asyncio.Task[None] | None = None
        self._api: client.ApiClient | None = None
        self._elector: LeaseElector | None = None
        self.webhook: WebhookServer | None = None
        self.forwarded = 0
        self.phases = RuntimePhases()

    @property
    def is_active(self) -> bool:
        """Whether this replica holds the Lease and forwards (the others only watch)."""
        return self._elector is not None and self._elector.is_leader

    # -- process lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if self.settings.webhook is not None:
            self.webhook = WebhookServer(self.settings.webhook)
            await self.webhook.start()
        self._api = api = kube_api_client(self.settings.kubeconfig)
        custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        self._custom = custom
        loop = asyncio.get_running_loop()
        resync = self.settings.resync_period.total_seconds()
        for name, plural in (("xtrinodes", "xtrinodes"), ("catalogs", "xtrinodecatalogs")):
            for scope, fn in self._scoped(
                lambda ns, p=plural: functools.partial(custom.list_namespaced_custom_object, API_GROUP, API_VERSION, ns, p),
                functools.partial(custom.list_cluster_custom_object, API_GROUP, API_VERSION, plural),
            ):
                self._informers.append(Informer(name, fn, self._queue, loop, resync_seconds=resync,
                                                watch_timeout=self.settings.watch_timeout_seconds,
                                                ident=f"{name}:{scope}"))
        for scope, fn in self._scoped(lambda ns: functools.partial(core.list_namespaced_secret, ns),
                                      core.list_secret_for_all_namespaces):
            self._informers.append(Informer("secrets", fn, self._queue, loop, resync_seconds=resync,
                                            watch_timeout=self.settings.watch_timeout_seconds,
                                            ident=f"secrets:{scope}"))
        # On taking the Lease, forward everything seen so far: changes that came while another replica
        # held it (and was perhaps dying) would otherwise wait for the next resync.
        def took_lease() -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, (_TAKEOVER, ("SYNC", {})))

        self._elector = LeaseElector(client.CoordinationV1Api(api), self.settings.lease_namespace,
                                     self.settings.lease_name, self.settings.identity, self.settings.lease_duration,
                                     on_gain=took_lease)
        await self._elector.start()
        for informer in self._informers:
            informer.start()
        self._task = asyncio.create_task(self._loop(), name="operator-loop")

    def _scoped(self, per_namespace: Any, cluster_wide: Any) -> list[tuple[str, Any]]:
        if self.settings.namespaces:
            return [(ns, per_namespace(ns)) for ns in self.settings.namespaces]
        return [("*", cluster_wide)]

    def not_ready(self) -> str | None:
        """Why this replica is not ready: None once every informer has listed (Lease or not)."""
        if not self.synced:
            return "not every informer has listed yet"
        return None

    @property
    def synced(self) -> bool:
        """Every informer has listed once: the caches hold every runtime, catalog and Secret version."""
        return bool(self._informers) and self._listed >= {i.ident for i in self._informers}

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(i.stop) for i in self._informers))
        self._informers = []
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._elector is not None:
            await self._elector.stop()
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None

    async def __aenter__(self) -> Operator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # -- events ------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            source, (kind, obj) = await self._queue.get()
            try:
                await self._handle(source, kind, obj)
            except Exception:  # one bad object must not stop forwarding for the others
                log.exception("forwarding %s %s/%s failed; the next event or resync retries", source, *_key(obj),
                              extra={"runtime": "/".join(_key(obj))})

    async def _handle(self, source: str, kind: str, obj: dict[str, Any]) -> None:
        if kind == LISTED:
            was_synced = self.synced
            self._listed.add(str(obj.get("informer", source)))
            if self.synced and not was_synced:
                log.info("every informer listed: forwarding %d runtimes", len(self.runtimes))
                for runtime_key in list(self.runtimes):
                    await self._forward(runtime_key)
            return
        if source == _TAKEOVER:
            if self.runtimes:
                log.info("took the lease: forwarding %d runtimes", len(self.runtimes))
            for runtime_key in list(self.runtimes):
                await self._forward(runtime_key)
            return
        key = _key(obj)
        if source == "secrets":
            version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            if kind == "DELETED":
                self.secrets.pop(key, None)
            else:
                self.secrets[key] = version
            await self._forward_namespace(key[0], only_referencing=key[1])
        elif source == "catalogs":
            if kind == "DELETED":
                self.catalogs.pop(key, None)
            else:
                self.catalogs[key] = obj
            await self._forward_namespace(key[0])
        elif kind == "DELETED":
            self.runtimes.pop(key, None)
            self._sent.pop(key, None)
            self.phases.forget(*key)
        else:
            self.runtimes[key] = obj
            self.phases.observe(*key, (obj.get("status") or {}).get("phase"))
            await self._forward(key)

    async def _forward_namespace(self, namespace: str, only_referencing: str | None = None) -> None:
        for key in [k for k in self.runtimes if k[0] == namespace]:
            await self._forward(key, only_referencing=only_referencing)

    async def _forward(self, key: Key, only_referencing: str | None = None) -> None:
        if self._elector is not None and not self._elector.is_leader:
            return
        if not self.synced:
            return  # forwarded all at once when the last informer has listed
        obj = self.runtimes.get(key)
        if obj is None:
            return
        namespace, name = key
        meta = obj.get("metadata") or {}
        workflow_id = workflow_id_for(namespace, name)
        if meta.get("deletionTimestamp"):
            if FINALIZER in (meta.get("finalizers") or []) and self._sent.get(key) != "deleted":
                with _counted("deleted"):
                    # A valid spec rides along: when no run is open (terminated by hand), the run this starts
                    # must know what to drain and stop before it releases the finalizer (without one, it
                    # stops what it can name).
                    start = RuntimeState(namespace=namespace, name=name, uid=meta.get("uid"),
                                         runtime=obj if _validates(obj) else None)
                    await self.temporal.start_workflow(
                        RUNTIME_WORKFLOW, start, id=workflow_id,
                        task_queue=self.settings.temporal.task_queue, start_signal=SIGNAL_DELETED,
                        start_signal_args=[DeleteRequest(uid=meta.get("uid"))],
                    )
                self._sent[key] = "deleted"
                self.forwarded += 1
            return
        try:
            runtime = XTrinode.model_validate(obj)
        except ValidationError as e:
            reason = _validation_message(e)
            log.warning("XTrinode %s/%s is invalid and is not forwarded: %s", namespace, name, reason,
                        extra={"runtime": f"{namespace}/{name}"})
            FORWARDS.labels("spec_changed", "invalid").inc()
            await asyncio.to_thread(self._mark_valid, obj, reason)
            return
        if _marked_invalid(obj):
            await asyncio.to_thread(self._mark_valid, obj, None)
        catalogs = [c for c in self._namespace_catalogs(namespace)]
        selected = select_catalogs(runtime, catalogs)
        refs = runtime_secret_references(runtime, selected)
        if only_referencing is not None and only_referencing not in {r.name for r in refs}:
            return
        versions = {r.name: self.secrets.get((namespace, r.name), "") for r in refs}
        change = SpecChange(
            generation=int(meta.get("generation") or 0),
            runtime=obj,
            catalogs=[c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in selected],
            secret_versions=versions,
        )
        fingerprint = hashlib.sha256(json.dumps(
            [change.generation, meta.get("uid"), [(c.name, c.metadata.resource_version) for c in selected], versions],
            sort_keys=True).encode()).hexdigest()
        if FINALIZER not in (meta.get("finalizers") or []):
            await asyncio.to_thread(self._add_finalizer, namespace, name, meta)
        if self._sent.get(key) == fingerprint:
            return
        with _counted("spec_changed"):
            await self.temporal.start_workflow(
                RUNTIME_WORKFLOW, RuntimeState(namespace=namespace, name=name, uid=meta.get("uid")), id=workflow_id,
                task_queue=self.settings.temporal.task_queue, start_signal=SIGNAL_SPEC_CHANGED,
                start_signal_args=[change], id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        self._sent[key] = fingerprint
        self.forwarded += 1
        log.info("forwarded %s/%s generation %s to %s", namespace, name, change.generation, workflow_id,
                 extra={"workflow_id": workflow_id})

    def _namespace_catalogs(self, namespace: str) -> list[XTrinodeCatalog]:
        out = []
        for (ns, name), body in sorted(self.catalogs.items()):
            if ns != namespace:
                continue
            try:
                out.append(XTrinodeCatalog.model_validate(body))
            except ValidationError as e:
                log.warning("XTrinodeCatalog %s/%s is invalid and is skipped: %s", ns, name, str(e)[:300])
        return out

    def _mark_valid(self, obj: dict[str, Any], problem: str | None) -> None:
        """Keep the `Valid` condition true to the spec: False with the reason (plus a Warning Event
        `InvalidSpec`, and phase Error when no workflow ever ran it) for a spec the domain refuses; True
        again once it is fixed. Writes only when the status says otherwise, so it is idempotent."""
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        generation = meta.get("generation")
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        current = next((c for c in conditions if c.get("type") == "Valid"), None)
        if problem is None and (current is None or current.get("status") == "True"):
            return  # never marked invalid: the workflow owns the status
        if problem is not None and current is not None and current.get("status") == "False" \
                and current.get("message") == problem[:1000] and current.get("observedGeneration") == generation:
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        valid = {"type": "Valid", "status": "False" if problem else "True",
                 "reason": "InvalidSpec" if problem else "SpecAccepted",
                 "message": problem[:1000] if problem else "the spec is valid",
                 "lastTransitionTime": now, "observedGeneration": generation}
        patch: dict[str, Any] = {"conditions": [*(c for c in conditions if c.get("type") != "Valid"), valid]}
        if problem is not None:
            patch["message"] = f"invalid spec: {problem}"[:1000]
            if not status.get("workflowId"):  # nothing runs it yet: say so in the phase too
                patch["phase"] = "Error"
        try:
            self._custom.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, "xtrinodes", name, {"status": patch})
        except ApiException as e:
            if e.status != 404:
                raise
            return
        if problem is not None:
            self._warn(obj, "InvalidSpec", f"invalid spec, not applied: {problem}")

    def _warn(self, obj: dict[str, Any], reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": meta.get("namespace")},
            "involvedObject": {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "XTrinode", "name": meta.get("name"),
                               "namespace": meta.get("namespace"), "uid": meta.get("uid") or ""},
            "reason": reason, "message": message[:1000], "type": "Warning",
            "source": {"component": "xtrinode-operator"},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            client.CoreV1Api(self._api).create_namespaced_event(str(meta.get("namespace")), event)  # type: ignore[arg-type]
        except ApiException as e:  # an Event is informational: the status already says it
            log.warning("could not record Event %s for %s: HTTP %s", reason, meta.get("name"), e.status)

    def _add_finalizer(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        finalizers = [*(meta.get("finalizers") or []), FINALIZER]
        try:
            self._custom.patch_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, "xtrinodes", name,
                {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}})
        except ApiException as e:
            if e.status not in (404, 409):  # gone, or changed: the next event carries the new version
                raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtrinode operator", description=__doc__)
    add_temporal_arguments(parser)
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig path (default: in-cluster)")
    parser.add_argument("--namespace", action="append", default=[], help="watched namespace (repeatable; default all)")
    parser.add_argument("--resync-period", default="5m")
    parser.add_argument("--lease-namespace", default="xtrinode-system")
    parser.add_argument("--lease-name", default="xtrinode-operator", help="Lease that makes one replica active")
    add_webhook_arguments(parser, prefix="webhook-")
    parser.add_argument("--health-port", type=int, help="serve /healthz, /readyz and /metrics on this port")
    return parser


async def _serve(settings: OperatorSettings) -> None:
    sdk_metrics = TemporalSdkMetrics()  # the Temporal SDK's metrics on this process's /metrics
    REGISTRY.register(sdk_metrics)
    temporal = await connect_client(settings.temporal, runtime=sdk_metrics.runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Operator(temporal, settings) as operator, contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(sdk_metrics.draining())
        if settings.health_port is not None:
            await stack.enter_async_context(HealthServer(settings.health_port, operator.not_ready))
        log.info("operator running")
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from_args(argv)
    start_process("xtrinode-operator")
    asyncio.run(_serve(settings))
    return 0


def settings_from_args(argv: Sequence[str] | None) -> OperatorSettings:
    """The operator's settings from its flags (the Temporal API key from $XTRINODE_TEMPORAL_API_KEY)."""
    from xtrinode.durations import parse_duration

    args = _parser().parse_args(argv)
    if (args.webhook_cert is None) != (args.webhook_key is None):
        _parser().error("--webhook-cert and --webhook-key go together (the webhook serves HTTPS only)")
    webhook = (webhook_settings_from(args, args.kubeconfig, prefix="webhook-")
               if args.webhook_cert is not None else None)
    return OperatorSettings(
        temporal=temporal_settings_from_args(args),
        kubeconfig=args.kubeconfig, namespaces=tuple(args.namespace),
        resync_period=parse_duration(args.resync_period), lease_namespace=args.lease_namespace,
        lease_name=args.lease_name, health_port=args.health_port, webhook=webhook,
    )
