"""A span per Kubernetes or Trino activity call, under Temporal's `RunActivity` span.

`@traced("kubernetes")` below `@activity.defn` wraps a sync or async activity method in a span named
`kubernetes apply_runtime` (system and activity), with the runtime's namespace and name (from the
input's `ref`, or the rendered runtime's metadata) and the lifecycle step (the calling workflow's
type, e.g. `ResumeRuntime`). Without a tracer provider the spans are the API's no-ops.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from opentelemetry import trace
from temporalio import activity

__all__ = ["traced"]

F = TypeVar("F", bound=Callable[..., Any])

tracer = trace.get_tracer("xtrinode.activities")


def _called(fn: Callable[..., Any]) -> tuple[str, str]:
    """(activity type, calling workflow type); outside an activity (a direct call, as tests and tools
    make) the method's name and no step."""
    if not activity.in_activity():
        return fn.__name__, ""
    info = activity.info()
    return info.activity_type, info.workflow_type or ""


def _attributes(system: str, inp: Any, called: tuple[str, str]) -> dict[str, str]:
    attributes = {"xtrinode.system": system, "xtrinode.activity": called[0], "xtrinode.step": called[1]}
    ref = getattr(inp, "ref", None)
    namespace, name = getattr(ref, "namespace", None), getattr(ref, "name", None)
    if namespace is None:
        runtime = getattr(inp, "runtime", None)
        metadata = (runtime.get("metadata") or {}) if isinstance(runtime, dict) else {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
    if namespace is not None:
        attributes["xtrinode.namespace"] = str(namespace)
    if name is not None:
        attributes["xtrinode.name"] = str(name)
    return attributes


def _span(system: str, fn: Callable[..., Any], inp: Any) -> AbstractContextManager[Any]:
    called = _called(fn)
    return tracer.start_as_current_span(f"{system} {called[0]}", attributes=_attributes(system, inp, called))


def traced(system: str) -> Callable[[F], F]:
    """Decorate an activity method (sync or async) with a span for its call to `system`."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(self: Any, inp: Any, *args: Any) -> Any:
                with _span(system, fn, inp):
                    return await fn(self, inp, *args)

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(self: Any, inp: Any, *args: Any) -> Any:
            with _span(system, fn, inp):
                return fn(self, inp, *args)

        return cast(F, run)

    return decorate
