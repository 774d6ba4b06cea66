"""Process settings from a YAML file plus environment overrides, the same way for every process.

Keys are camelCase (as the chart's values), durations strings such as `5m`; variables
`<PREFIX><SECTION>__<KEY>` (any case, underscores inside a key optional, values read as YAML scalars)
override the file. Unknown keys are an error that names the key. A process with a `root` (the gateway's
is `gateway`) also takes a file whose only top-level key is that root, the shape of the chart's values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["SettingsError", "load_settings_file"]

M = TypeVar("M", bound=BaseModel)


class SettingsError(ValueError):
    """Settings are not usable; the message names the key and says what to do."""


def _norm(text: str) -> str:
    return text.replace("_", "").replace("-", "").lower()


def _field_key(model: type[BaseModel], segment: str) -> tuple[str, type[BaseModel] | None] | None:
    """The YAML key of `model`'s field named `segment` (any case, underscores ignored) and its model type."""
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if _norm(segment) in (_norm(name), _norm(alias)):
            sub = info.annotation
            return alias, sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
    return None


def _apply_env(model_type: type[BaseModel], data: dict[str, Any], environ: Mapping[str, str], prefix: str, what: str) -> None:
    for var in sorted(environ):
        if not var.startswith(prefix):
            continue
        segments = [s for s in var[len(prefix):].split("__") if s]
        model: type[BaseModel] | None = model_type
        node = data
        for i, segment in enumerate(segments):
            found = _field_key(model, segment) if model is not None else None
            if found is None:
                raise SettingsError(
                    f"environment variable {var!r}: {segment!r} is not a {what} setting here; "
                    f"use {prefix}<SECTION>__<KEY>"
                )
            key, model = found
            if i == len(segments) - 1:
                node[key] = yaml.safe_load(environ[var]) if environ[var] else None
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child


def _describe(error: ValidationError, source: str, what: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key; remove it or check its spelling (keys are camelCase)")
        else:
            secret = any(w in where.lower() for w in ("key", "token", "secret", "password"))
            shown = "<hidden>" if secret else repr(item.get("input"))
            lines.append(f"{where}: {item['msg']} (got {shown})")
    return f"{what} settings from {source} are invalid:\n  " + "\n  ".join(lines)


def _unwrap(data: dict[str, Any], root: str | None, source: str, what: str) -> dict[str, Any]:
    """`{root: {...}}` -> `{...}`: the settings nested under the chart's values key."""
    if root is None or root not in data:
        return data
    if len(data) != 1:
        others = ", ".join(sorted(repr(k) for k in data if k != root))
        raise SettingsError(f"{what} settings {source!r} nest settings under {root!r} and also have {others} at the "
                            f"top; put every key under {root!r} (the chart's values shape) or none")
    inner = data[root]
    if inner is None:
        return {}
    if not isinstance(inner, dict):
        raise SettingsError(f"{what} settings {source!r}: {root!r} must be a mapping, got {type(inner).__name__}")
    return inner


def load_settings_file(
    model: type[M], path: Path | str | None, env_prefix: str, what: str, environ: Mapping[str, str] | None = None,
    root: str | None = None,
) -> M:
    """Read the YAML file (optional), apply `<env_prefix><SECTION>__<KEY>` overrides, validate as `model`.

    With `root`, a file whose only top-level key is `root` holds the settings under it.

    Raises SettingsError with a message that names the key (unknown keys included) and never shows a
    value of a key that looks secret.
    """
    source = str(path) if path is not None else "defaults"
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as e:
            raise SettingsError(f"cannot read {what} settings {source!r}: {e}; pass an existing file to --config") from e
        except yaml.YAMLError as e:
            raise SettingsError(f"{what} settings {source!r} are not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise SettingsError(f"{what} settings {source!r} must be a mapping, got {type(data).__name__}")
        data = _unwrap(data, root, source, what)
    _apply_env(model, data, os.environ if environ is None else environ, env_prefix, what)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SettingsError(_describe(e, source, what)) from e
