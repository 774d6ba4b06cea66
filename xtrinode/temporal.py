"""Connecting to Temporal the one way every process does: pydantic payloads, tracing, settings.

Also the names shared by every process: task queue, search attribute keys, dev-server flags.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RetryConfig, TLSConfig

from xtrinode.temporal_tracing import UpdateTracingInterceptor

__all__ = [
    "TASK_QUEUE",
    "NAMESPACE_ATTR",
    "NAME_ATTR",
    "PHASE_ATTR",
    "SEARCH_ATTRIBUTES",
    "API_KEY_ENV",
    "TemporalSettings",
    "add_temporal_arguments",
    "connect_client",
    "temporal_settings_from_args",
    "tls_config",
    "TEST_DYNAMIC_CONFIG",
    "dynamic_config_args",
    "search_attribute_args",
]

TASK_QUEUE = "xtrinode-lifecycle"
NAMESPACE_ATTR = SearchAttributeKey.for_keyword("XTrinodeNamespace")
NAME_ATTR = SearchAttributeKey.for_keyword("XTrinodeName")
PHASE_ATTR = SearchAttributeKey.for_keyword("XTrinodePhase")
SEARCH_ATTRIBUTES = (NAMESPACE_ATTR, NAME_ATTR, PHASE_ATTR)


class TemporalSettings(BaseModel):
    address: str = Field(default="127.0.0.1:7233", description="Temporal frontend host:port.")
    namespace: str = Field(default="default", description="Temporal namespace.")
    task_queue: str = Field(default=TASK_QUEUE, description="Task queue of the lifecycle worker.")
    tls: bool = Field(default=False, description="Use TLS to reach the frontend (system CA roots unless tls_ca_file).")
    tls_ca_file: Path | None = Field(default=None, description="PEM CA that signed the frontend's certificate; implies TLS.")
    tls_cert_file: Path | None = Field(default=None, description="PEM client certificate (mTLS); implies TLS.")
    tls_key_file: Path | None = Field(default=None, description="PEM key of tls_cert_file.")
    tls_server_name: str | None = Field(default=None, description="Name to verify in the frontend's certificate.")
    api_key: str | None = Field(default=None, description="Temporal Cloud API key; never logged.", repr=False)


API_KEY_ENV = "XTRINODE_TEMPORAL_API_KEY"
"""Where `xtrinode worker` and `xtrinode operator` read the Temporal API key (a Secret, never a flag)."""


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """The TLS of the connection: a TLSConfig from the PEM files when any is set, else `settings.tls`."""
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        raise ValueError("the Temporal client certificate and key go together: set both tls_cert_file and tls_key_file")
    if settings.tls_ca_file is None and settings.tls_cert_file is None and settings.tls_server_name is None:
        return settings.tls

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    return TLSConfig(server_root_ca_cert=read(settings.tls_ca_file), client_cert=read(settings.tls_cert_file),
                     client_private_key=read(settings.tls_key_file), domain=settings.tls_server_name)


def add_temporal_arguments(parser: argparse.ArgumentParser) -> None:
    """The Temporal flags of `xtrinode worker` and `xtrinode operator` (the API key: $XTRINODE_TEMPORAL_API_KEY)."""
    parser.add_argument("--temporal-address", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--temporal-namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE, help="task queue of the lifecycle worker")
    parser.add_argument("--temporal-tls", action="store_true", help="TLS to the frontend with the system CA roots")
    parser.add_argument("--temporal-tls-ca", type=Path, help="PEM CA of the frontend's certificate (implies TLS)")
    parser.add_argument("--temporal-tls-cert", type=Path, help="PEM client certificate for mTLS (with --temporal-tls-key)")
    parser.add_argument("--temporal-tls-key", type=Path, help="PEM key of the client certificate")
    parser.add_argument("--temporal-tls-server-name", help="name to verify in the frontend's certificate")


def temporal_settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> TemporalSettings:
    env = os.environ if environ is None else environ
    return TemporalSettings(
        address=args.temporal_address, namespace=args.temporal_namespace, task_queue=args.task_queue,
        tls=args.temporal_tls, tls_ca_file=args.temporal_tls_ca, tls_cert_file=args.temporal_tls_cert,
        tls_key_file=args.temporal_tls_key, tls_server_name=args.temporal_tls_server_name,
        api_key=env.get(API_KEY_ENV) or None,
    )


async def connect_client(settings: TemporalSettings, *, fast_fail_retries: bool = False,
                         runtime: Runtime | None = None) -> Client:
    """A client with the pydantic data converter and the tracing interceptor (xtrinode/temporal_tracing.py;
    spans are recorded only when the process configured tracing, xtrinode/tracing.py).

    `fast_fail_retries` lets a caller that runs its own backoff (the gateway's update coalescer)
    take over from the core client's built-in retries (notes/temporal.md section 1). `runtime` is the
    Temporal core runtime (the worker and operator pass one that records the SDK's metrics); None = the
    process default.
    """
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[UpdateTracingInterceptor()],
        tls=tls_config(settings),
        api_key=settings.api_key,
        retry_config=RetryConfig(max_retries=1) if fast_fail_retries else None,
        runtime=runtime,
    )


# Dev-server tuning that makes lifecycle tests fast (notes/temporal.md section 7); test servers only.
TEST_DYNAMIC_CONFIG = (
    'history.workflowIdReuseMinimalInterval="0s"',
    'history.timerProcessorMaxTimeShift="10ms"',
    "history.transferProcessorMaxPollRPS=1000",
    "history.timerProcessorMaxPollRPS=1000",
    "history.visibilityProcessorMaxPollRPS=1000",
    "limit.historyCount.suggestContinueAsNew=200",
)
# history.maxInFlightUpdates stays at its default (10): tests prove callers never see that cap.


def dynamic_config_args(values: tuple[str, ...] = TEST_DYNAMIC_CONFIG) -> list[str]:
    """`--dynamic-config-value` flags for `temporal server start-dev`."""
    return [arg for value in values for arg in ("--dynamic-config-value", value)]


def search_attribute_args() -> list[str]:
    """`--search-attribute` flags registering our keyword attributes at server start."""
    return [arg for key in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{key.name}=Keyword")]

