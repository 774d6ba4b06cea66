"""Connecting to Temporal the one way every process does: pydantic payloads, tracing, settings.

Also the names shared by every process: task queue, search attribute keys, dev-server flags.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig

__all__ = [
    "TASK_QUEUE",
    "NAMESPACE_ATTR",
    "NAME_ATTR",
    "PHASE_ATTR",
    "SEARCH_ATTRIBUTES",
    "TemporalSettings",
    "connect_client",
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
    tls: bool = Field(default=False, description="Use TLS to reach the frontend.")
    api_key: str | None = Field(default=None, description="Temporal Cloud API key; never logged.", repr=False)


async def connect_client(settings: TemporalSettings, *, fast_fail_retries: bool = False) -> Client:
    """A client with the pydantic data converter (and, when installed, the tracing interceptor).

    `fast_fail_retries` lets a caller that runs its own backoff (the gateway's update coalescer)
    take over from the core client's built-in retries (notes/temporal.md section 1).
    """
    interceptors = []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        interceptors.append(TracingInterceptor())
    except ImportError:  # pragma: no cover - the extra is a declared dependency
        pass
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        interceptors=interceptors,
        tls=settings.tls,
        api_key=settings.api_key,
        retry_config=RetryConfig(max_retries=1) if fast_fail_retries else None,
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

