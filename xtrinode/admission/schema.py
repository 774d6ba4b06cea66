"""Schema check: validate the wire object with the resource model and turn pydantic errors into reasons.

Each reason names the field path; unknown fields get a did-you-mean; secret-looking values are never shown.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from xtrinode.admission.catalog_rules import looks_secret
from xtrinode.admission.findings import Loc, format_path, show

__all__ = ["schema_reasons", "known_fields"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def schema_reasons(model: type[BaseModel], obj: Mapping[str, Any], covered: set[Loc]) -> list[str]:
    """Why `obj` does not validate as `model`, minus errors at paths a rule already explained."""
    try:
        model.model_validate(obj)
    except ValidationError as e:
        errors = e.errors(include_url=False)
    except (ArithmeticError, RecursionError) as e:
        # A validator raised instead of reporting (a number too large to represent); rules name the field.
        if () in covered:
            return []
        return [
            f"{format_path(())}: a value is too large to represent ({type(e).__name__}); check durations, "
            "quantities and worker counts for absurdly large numbers"
        ]
    else:
        return []
    reasons: list[str] = []
    for error in errors:
        loc: Loc = tuple(error["loc"])
        if loc in covered:
            continue
        reason = f"{format_path(loc)}: {_describe(model, loc, error)}"
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def _describe(model: type[BaseModel], loc: Loc, error: ErrorDetails) -> str:
    kind, message = error["type"], error["msg"]
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if kind == "extra_forbidden":
        fields = known_fields(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1) if fields else []
        hint = f"did you mean {close[0]!r}? Otherwise " if close else ""
        known = f" (known fields: {', '.join(fields)})" if fields and len(fields) <= 25 else ""
        return f"unknown field; {hint}remove it{known}"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return message  # our validators already say what was wrong and what to use
    if _sensitive(loc):
        return message
    return f"{message} (got {show(error.get('input'))})"


def _sensitive(loc: Loc) -> bool:
    """Values under properties or secret-looking keys are never echoed."""
    return any(isinstance(part, str) and (part == "properties" or looks_secret(part)) for part in loc)


def known_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """The wire field names of the model found at `loc` under `model`; [] when there is none."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _model_of(current)
    if current is None:
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of `X | None` / `Optional[X]` / `Annotated[X, ...]`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _step(annotation: Any, part: str | int) -> Any:
    for option in _unwrap(annotation):
        origin = typing.get_origin(option)
        args = typing.get_args(option)
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
            for name, info in option.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        elif origin is list and isinstance(part, int) and args:
            return args[0]
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
    return None
