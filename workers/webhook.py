"""The validating admission webhook: `POST /validate/xtrinodes` and `/validate/xtrinodecatalogs`.

Takes and answers `admission.k8s.io/v1` AdmissionReview over HTTPS and runs the rules of
`xtrinode.admission` (nothing re-implemented here), with the valuesOverlay gate asking the API server a
SubjectAccessReview and the PASSWORD file check reading its Secret. Runs as `xtrinode webhook` or inside
the operator (`xtrinode operator --webhook-cert ... --webhook-key ...`). The certificate and key are
reloaded when their files change. Bad input gets a 4xx with a JSON body, never a 500; a review that
cannot be judged is refused (fail closed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from workers.operator_metrics import ADMISSION_REVIEWS
from xtrinode.admission import (
    AdmissionRequest,
    AdmissionResult,
    Authorizer,
    SecretReader,
    review,
    to_admission_response,
)
from xtrinode.tracing import start_process

__all__ = ["PATHS", "WebhookServer", "WebhookSettings", "create_app", "main", "validating_webhook_configuration"]

log = logging.getLogger("xtrinode.webhook")

PATHS = {"/validate/xtrinodes": "XTrinode", "/validate/xtrinodecatalogs": "XTrinodeCatalog"}
"""Webhook path -> the kind it admits (register each in the ValidatingWebhookConfiguration)."""


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="0.0.0.0", description="Address to listen on.")
    port: int = Field(default=8443, ge=0, le=65535, description="HTTPS port; 0 picks a free one. Default 8443.")
    cert_file: Path | None = Field(default=None, description="PEM certificate (chain) served to the API server.")
    key_file: Path | None = Field(default=None, description="PEM private key of cert_file.")
    kubeconfig: Path | None = Field(default=None, description="kubeconfig for SubjectAccessReviews; None = in-cluster.")
    cert_reload_interval: timedelta = Field(
        default=timedelta(seconds=10), description="How often the certificate files are checked for changes. 10s.")
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024,
        description="Largest AdmissionReview accepted, bytes (old and new object of up to 1.5 MiB each). 4 MiB.")
    kube_timeout: timedelta = Field(
        default=timedelta(seconds=5), description="Deadline of a SubjectAccessReview or Secret read. 5s.")


@dataclass
class Clients:
    """What the rules ask the API server through; filled at start when not injected."""

    authorizer: Authorizer | None = None
    secrets: SecretReader | None = None


CLIENTS = web.AppKey("clients", Clients)
MAX_BODY = web.AppKey("max_body", int)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "code": status}, status=status)


def _refused(uid: str, reason: str) -> web.Response:
    result = AdmissionResult(allowed=False, reasons=[reason])
    return web.json_response(to_admission_response(uid, result))


def _uid(body: Any) -> str | None:
    request = body.get("request") if isinstance(body, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) and uid else None


async def _read_json(request: web.Request) -> Any:
    """The request body as JSON; raises a 4xx response for anything that is not."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": f"Content-Type {request.content_type!r} is not accepted; send an AdmissionReview "
                             "as application/json", "code": 415}), content_type="application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.app[MAX_BODY], actual_size=request.content_length or 0,
            text=json.dumps({"error": f"the AdmissionReview is larger than {request.app[MAX_BODY]} bytes",
                             "code": 413}), content_type="application/json") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"the body is not JSON: {str(e)[:120]}", "code": 400}),
                                 content_type="application/json") from None


async def _validate(request: web.Request) -> web.StreamResponse:
    """Answer one AdmissionReview and count it once, by outcome (a body that is not one is `malformed`)."""
    kind = PATHS[request.path]
    outcome = "malformed"
    try:
        response, outcome = await _answer(request, kind)
        return response
    finally:
        ADMISSION_REVIEWS.labels(kind, outcome).inc()


async def _answer(request: web.Request, kind: str) -> tuple[web.StreamResponse, str]:
    body = await _read_json(request)
    uid = _uid(body)
    if uid is None:
        return _error(400, "the body is not an AdmissionReview: request.uid (a string) is missing; the webhook "
                           "answers admission.k8s.io/v1 AdmissionReview requests from the API server"), "malformed"
    try:
        admission = AdmissionRequest.from_review(body)
    except ValueError as e:
        return _refused(uid, str(e)), "malformed"
    except Exception as e:  # noqa: BLE001 - anything a client can send is answered, never a 500
        return _refused(uid, f"the AdmissionReview could not be read ({type(e).__name__}); refused to stay safe"), \
            "malformed"
    if admission.kind != kind:
        other = next(path for path, k in PATHS.items() if k == admission.kind)
        return _refused(uid, f"{request.path} admits {kind} objects, not {admission.kind}; the "
                             f"ValidatingWebhookConfiguration should send {admission.kind} to {other}"), "wrong_kind"
    try:
        clients = request.app[CLIENTS]
        result = await review(admission, clients.authorizer, clients.secrets)
        outcome = "allowed" if result.allowed else "denied"
    except Exception as e:  # noqa: BLE001 - review is total; this is belt and braces (fail closed)
        log.exception("admission review failed")
        outcome = "error"
        result = AdmissionResult(allowed=False, reasons=[f"the webhook failed ({type(e).__name__}); refused to stay safe"])
    log.info("%s %s %s/%s by %r: %s", admission.operation, admission.kind, admission.namespace, admission.name,
             admission.user.username, "allowed" if result.allowed else "denied")
    return web.json_response(to_admission_response(admission.uid, result)), outcome


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(
    settings: WebhookSettings, *, authorizer: Authorizer | None = None, secrets: SecretReader | None = None
) -> web.Application:
    """The webhook app. Without an injected authorizer it builds the SubjectAccessReview client (and the
    Secret reader) from `settings.kubeconfig` (None: in-cluster) when the app starts."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[MAX_BODY] = settings.max_body_bytes
    app[CLIENTS] = Clients(authorizer, secrets)
    if authorizer is None:
        app.cleanup_ctx.append(_kube_clients(settings))
    for path in PATHS:
        app.router.add_post(path, _validate)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/readyz", _health)
    return app


def _kube_clients(settings: WebhookSettings) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from workers.admission_clients import secret_reader, subject_access_reviewer
        from workers.lifecycle import kube_api_client

        api = kube_api_client(settings.kubeconfig)
        clients = app[CLIENTS]
        clients.authorizer = subject_access_reviewer(api, settings.kube_timeout)
        if clients.secrets is None:
            clients.secrets = secret_reader(api, settings.kube_timeout)
        yield
        api.close()  # type: ignore[no-untyped-call]

    return ctx


def _fingerprint(paths: Sequence[Path]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, 0))
            continue
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class WebhookServer:
    """`async with WebhookServer(settings):` serves HTTPS until the block ends, reloading the certificate."""

    def __init__(self, settings: WebhookSettings, *, authorizer: Authorizer | None = None,
                 secrets: SecretReader | None = None) -> None:
        if settings.cert_file is None or settings.key_file is None:
            raise ValueError("the webhook serves HTTPS only: set cert_file and key_file (--cert, --key)")
        self.settings = settings
        self.app = create_app(settings, authorizer=authorizer, secrets=secrets)
        self._runner: web.AppRunner | None = None
        self._reload: asyncio.Task[None] | None = None
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self.reloads = 0

    @property
    def files(self) -> tuple[Path, Path]:
        assert self.settings.cert_file is not None and self.settings.key_file is not None
        return self.settings.cert_file, self.settings.key_file

    @property
    def port(self) -> int:
        assert self._runner is not None
        return int(self._runner.addresses[0][1])

    def load_certificate(self) -> None:
        cert, key = self.files
        self.ssl.load_cert_chain(cert, key)

    async def start(self) -> None:
        self.load_certificate()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port, ssl_context=self.ssl)
        await site.start()
        self._reload = asyncio.create_task(self._watch_certificate(), name="webhook-cert-reload")
        log.info("webhook serving on https://%s:%d", self.settings.host, self.port)

    async def _watch_certificate(self) -> None:
        seen = _fingerprint(self.files)
        while True:
            await asyncio.sleep(self.settings.cert_reload_interval.total_seconds())
            now = _fingerprint(self.files)
            if now == seen:
                continue
            try:
                self.load_certificate()
            except (OSError, ssl.SSLError) as e:  # half-written files: keep serving the old pair, try again
                log.warning("certificate reload failed, keeping the previous one: %s", e)
                continue
            seen = now
            self.reloads += 1
            log.info("certificate reloaded from %s", self.files[0])

    async def stop(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload
            self._reload = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The webhook flags (`--cert`, or `--webhook-cert` with prefix 'webhook-' inside the operator)."""
    parser.add_argument(f"--{prefix}cert", type=Path, help="PEM certificate served over HTTPS")
    parser.add_argument(f"--{prefix}key", type=Path, help="PEM private key of the certificate")
    parser.add_argument(f"--{prefix}host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument(f"--{prefix}port", type=int, default=8443, help="HTTPS port (default 8443; 0 = free)")
    parser.add_argument(f"--{prefix}cert-reload-interval", default="10s",
                        help="how often the certificate files are checked for changes (default 10s)")


def settings_from(args: argparse.Namespace, kubeconfig: Path | None, prefix: str = "") -> WebhookSettings:
    from xtrinode.durations import parse_duration

    attr = prefix.replace("-", "_")
    return WebhookSettings(
        host=getattr(args, f"{attr}host"), port=getattr(args, f"{attr}port"), cert_file=getattr(args, f"{attr}cert"),
        key_file=getattr(args, f"{attr}key"), kubeconfig=kubeconfig,
        cert_reload_interval=parse_duration(getattr(args, f"{attr}cert_reload_interval")),
    )


async def _serve(settings: WebhookSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with WebhookServer(settings):
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xtrinode webhook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig for SubjectAccessReviews (default: in-cluster)")
    args = parser.parse_args(argv)
    start_process("xtrinode-webhook")
    if args.cert is None or args.key is None:
        parser.error("--cert and --key are required: the API server calls webhooks over HTTPS only")
    try:
        settings = settings_from(args, args.kubeconfig)
    except ValueError as e:
        parser.error(str(e))
    asyncio.run(_serve(settings))
    return 0


def validating_webhook_configuration(
    ca_bundle: bytes, *, url: str | None = None, service: dict[str, Any] | None = None,
    name: str = "xtrinode", timeout_seconds: int = 10,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration that sends XTrinode and XTrinodeCatalog CREATE and UPDATE here:
    `failurePolicy: Fail` (nothing is admitted unchecked), `sideEffects: None`, `matchPolicy: Equivalent`.

    Reach the webhook by `url` (`https://host:port`, no path) or by `service`
    (`{namespace, name, port}`, in a cluster); `ca_bundle` is the PEM of the CA that signed its certificate.
    """
    import base64

    if (url is None) == (service is None):
        raise ValueError("give exactly one of url or service")
    hooks = []
    for path, kind in PATHS.items():
        plural = path.rsplit("/", 1)[1]
        client_config: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle).decode()}
        if url is not None:
            client_config["url"] = url.rstrip("/") + path
        else:
            client_config["service"] = {**(service or {}), "path": path}
        hooks.append({
            "name": f"{plural}.analytics.xtrinode.io",
            "clientConfig": client_config,
            "rules": [{"apiGroups": ["analytics.xtrinode.io"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": [plural], "scope": "Namespaced"}],
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "matchPolicy": "Equivalent",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": timeout_seconds,
        })
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name}, "webhooks": hooks}
