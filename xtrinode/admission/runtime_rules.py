"""Rejection rules for an `XTrinode` spec: size, worker bounds, routing selectors, limits vs requests.

Pure functions over the raw wire spec (SPEC section 6); overlay rules live in `overlay.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xtrinode.admission.findings import Change, Loc, Report, as_count, as_flag, format_path, get, show
from xtrinode.models.presets import COORDINATOR_PRESET, SIZES, RolePreset, worker_preset
from xtrinode.models.runtime import MAX_WORKERS_LIMIT, XTrinodeSpec
from xtrinode.quantity import parse_quantity

__all__ = [
    "DEFAULT_MIN_WORKERS",
    "DEFAULT_MAX_WORKERS",
    "RUNTIME_RULES",
    "check_size",
    "check_workers",
    "check_routing",
    "check_resources",
    "check_control_auth",
    "effective_workers",
    "secret_in_other_namespace",
]

DEFAULT_MIN_WORKERS: int = XTrinodeSpec.model_fields["min_workers"].default
DEFAULT_MAX_WORKERS: int = XTrinodeSpec.model_fields["max_workers"].default
_WORKER_FIELDS = ("minWorkers", "maxWorkers", "wakeMinWorkers")
_SELECTORS = ("routingGroup", "hostname", "hostnameDomain", "header")


def _size_list() -> str:
    return ", ".join(
        f"{size} ({worker_preset(size).request_cpu} CPU/{worker_preset(size).request_memory})" for size in SIZES
    )


def check_size(change: Change, report: Report) -> None:
    """spec.size must be one of the presets."""
    spec = change.spec
    if "size" not in spec:
        report.reject(("spec", "size"), f"is required; set one of {_size_list()} (worker requests)")
        return
    size = spec["size"]
    if isinstance(size, str) and size in SIZES:
        return
    hint = ""
    if isinstance(size, str) and size.strip().lower() in SIZES:
        hint = f" (sizes are lower-case: write {size.strip().lower()!r})"
    report.reject(
        ("spec", "size"),
        f"{show(size)} is not a size preset{hint}; use one of {_size_list()} (worker requests), "
        "or keep a size and override spec.resources",
    )


def effective_workers(spec: Mapping[str, Any] | None, field: str, default: int | None) -> int | None:
    """The worker count a spec asks for (default when absent); None when invalid (the schema says why)."""
    if spec is None:
        return default
    if spec.get(field) is None:
        return default
    count = as_count(spec.get(field))
    if count is None or not 0 <= count <= MAX_WORKERS_LIMIT:
        return None
    return count


def check_workers(change: Change, report: Report) -> None:
    """Counts in 0..500, minWorkers <= maxWorkers, wakeMinWorkers <= maxWorkers."""
    spec = change.spec
    for field in _WORKER_FIELDS:
        count = as_count(spec.get(field))
        if count is not None and not 0 <= count <= MAX_WORKERS_LIMIT:
            report.reject(
                ("spec", field),
                f"{show(spec.get(field))} is out of range; use a whole number from 0 to {MAX_WORKERS_LIMIT}",
            )
    low = effective_workers(spec, "minWorkers", DEFAULT_MIN_WORKERS)
    high = effective_workers(spec, "maxWorkers", DEFAULT_MAX_WORKERS)
    if high is None:
        return
    high_text = f"maxWorkers ({high}{', the default' if spec.get('maxWorkers') is None else ''})"
    if low is not None and low > high:
        report.reject(
            ("spec", "minWorkers"),
            f"{low!r} is greater than {high_text}; set minWorkers <= maxWorkers, or raise maxWorkers",
            replaces=(("spec",),),
        )
    wake = effective_workers(spec, "wakeMinWorkers", None)
    if wake is not None and wake > high:
        report.reject(
            ("spec", "wakeMinWorkers"),
            f"{wake!r} is greater than {high_text}, so the wake floor could never be met; "
            "set wakeMinWorkers <= maxWorkers, or raise maxWorkers",
        )


def check_routing(change: Change, report: Report) -> None:
    """Routing, when present, names at least one selector, and not hostname with hostnameDomain."""
    routing = change.spec.get("routing")
    if not isinstance(routing, Mapping):
        return
    chosen = [key for key in _SELECTORS if isinstance(routing.get(key), str) and routing[key].strip()]
    if as_flag(routing.get("default")) is True:
        chosen.append("default")
    if not chosen:
        report.reject(
            ("spec", "routing"),
            "sets no selector; set at least one of routingGroup, hostname, hostnameDomain, header or "
            f"default: true, or remove spec.routing to route by the group '{change.namespace}--{change.name}'",
        )
    if "hostname" in chosen and "hostnameDomain" in chosen:
        report.reject(
            ("spec", "routing", "hostname"),
            f"{show(routing['hostname'])} is set together with hostnameDomain {show(routing['hostnameDomain'])}; "
            "use hostname for one exact host, or hostnameDomain for '<routingGroup>.<domain>', not both",
        )


def _quantity(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        parsed = parse_quantity(value)
    except (ValueError, ArithmeticError):
        return None
    return parsed if parsed.is_finite() else None


def _preset(role: str, size: Any) -> tuple[RolePreset, str] | None:
    if role == "coordinator":
        return COORDINATOR_PRESET, "the coordinator preset"
    if isinstance(size, str) and size in SIZES:
        return worker_preset(size), f"the worker preset of size {size!r}"
    return None


def check_resources(change: Change, report: Report) -> None:
    """Limits >= requests per role and resource, counting preset values for what is not overridden."""
    spec = change.spec
    for role in ("coordinator", "worker"):
        overrides = get(spec, "resources", role)
        if not isinstance(overrides, Mapping):
            continue
        preset = _preset(role, spec.get("size"))
        for resource in ("cpu", "memory"):
            _check_pair(report, role, resource, overrides, preset)


def _check_pair(
    report: Report, role: str, resource: str, overrides: Mapping[str, Any], preset: tuple[RolePreset, str] | None
) -> None:
    base = ("spec", "resources", role)
    raw_request, raw_limit = get(overrides, "requests", resource), get(overrides, "limits", resource)
    request, limit = _quantity(raw_request), _quantity(raw_limit)
    if raw_request is not None and raw_limit is not None:
        if request is not None and limit is not None and limit < request:
            report.reject(
                (*base, "limits", resource),
                f"{show(raw_limit)} is below requests.{resource} {show(raw_request)}; "
                f"set limits.{resource} >= requests.{resource}",
            )
        return
    if preset is None:
        return
    values, preset_name = preset
    preset_request = values.request_cpu if resource == "cpu" else values.request_memory
    preset_limit = values.limit_cpu if resource == "cpu" else values.limit_memory
    if limit is not None and raw_request is None and limit < parse_quantity(preset_request):
        report.reject(
            (*base, "limits", resource),
            f"{show(raw_limit)} is below {preset_name} request {preset_request!r}; raise the limit to at "
            f"least {preset_request!r}, or also set requests.{resource} to at most {show(raw_limit)}",
        )
    if request is not None and raw_limit is None and request > parse_quantity(preset_limit):
        report.reject(
            (*base, "requests", resource),
            f"{show(raw_request)} is above {preset_name} limit {preset_limit!r}; also set "
            f"limits.{resource} to at least {show(raw_request)}, or choose a larger size",
        )


def secret_in_other_namespace(
    report: Report, loc: Loc, selector: Any, namespace: str, whose: str = "the runtime's"
) -> None:
    """A SecretKeySelector has no namespace: say that the Secret must live beside the object naming it."""
    if not isinstance(selector, Mapping) or "namespace" not in selector:
        return
    other = selector.get("namespace")
    where = f"in namespace {show(other)}" if other != namespace else "with an explicit namespace"
    report.reject(
        (*loc, "namespace"),
        f"names the Secret {where}, but the Secret must live in {whose} namespace {namespace!r} (pods "
        f"can only read Secrets of their own namespace); create it in {namespace!r} and remove "
        f"{format_path(loc)}.namespace",
    )


def check_control_auth(change: Change, report: Report) -> None:
    """trinoControlAuth.passwordSecret names a Secret of the runtime's own namespace."""
    loc: Loc = ("spec", "trinoControlAuth", "passwordSecret")
    secret_in_other_namespace(report, loc, get(change.spec, "trinoControlAuth", "passwordSecret"), change.namespace)


RUNTIME_RULES = (check_size, check_workers, check_routing, check_resources, check_control_auth)
