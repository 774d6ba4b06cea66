"""What admission rules share: the change under review, the report they write to, wire readers.

Rules read the raw wire dicts defensively (anything may be the wrong type) and never raise on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Loc",
    "Change",
    "Finding",
    "Report",
    "format_path",
    "show",
    "get",
    "as_count",
    "as_flag",
    "is_false",
    "is_true",
    "is_set",
]

Loc = tuple[str | int, ...]
"""A wire path, e.g. ("spec", "resources", "worker", "limits", "cpu") or ("spec", "tolerations", 0)."""

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHOW_LIMIT = 80


def format_path(loc: Loc) -> str:
    """`spec.resources.worker.limits.cpu`, `spec.valuesOverlay.env[0]`, `properties['hive.s3.aws-access-key']`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "<object>"


def show(value: Any) -> str:
    """`repr(value)` cut short, for messages (user input can be arbitrarily large)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


@dataclass(frozen=True)
class Change:
    """The object under review: its new and (on UPDATE) old wire dict."""

    operation: Literal["CREATE", "UPDATE"]
    namespace: str
    name: str
    new: Mapping[str, Any]
    old: Mapping[str, Any] | None = None

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.new.get("spec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def old_spec(self) -> Mapping[str, Any] | None:
        """The previous spec on UPDATE; None on CREATE (or when the old object had no usable spec)."""
        if self.old is None:
            return None
        spec = self.old.get("spec")
        return spec if isinstance(spec, Mapping) else None


@dataclass(frozen=True)
class Finding:
    """A rejection reason at a wire path; `replaces` names schema-error paths it explains better."""

    loc: Loc
    message: str
    replaces: tuple[Loc, ...] = ()

    def text(self) -> str:
        return f"{format_path(self.loc)}: {self.message}"


@dataclass
class Report:
    """What the rules found: reasons to reject, warnings, and whether the overlay gate applies."""

    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    gate_required: bool = False

    def reject(self, loc: Loc, message: str, *, replaces: tuple[Loc, ...] = ()) -> None:
        self.findings.append(Finding(loc, message, replaces))

    def warn(self, loc: Loc, message: str) -> None:
        self.warnings.append(f"{format_path(loc)}: {message}")

    def covered(self) -> set[Loc]:
        """Paths whose schema errors a rule already explained."""
        out: set[Loc] = set()
        for finding in self.findings:
            out.add(finding.loc)
            out.update(finding.replaces)
        return out


def get(data: Any, *keys: str) -> Any:
    """`data[k1][k2]...`, or None as soon as a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def as_count(value: Any) -> int | None:
    """A whole number as pydantic would read it (int or integral float), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


_TRUE_WORDS = {"true", "1", "yes", "on", "y", "t"}
_FALSE_WORDS = {"false", "0", "no", "off", "n", "f", ""}


def as_flag(value: Any) -> bool | None:
    """A boolean as pydantic's lax mode reads it (`true`, `"yes"`, `1`), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def is_true(value: Any) -> bool:
    """Exactly true (`true` or the string "true"), as Trino's config parser accepts it."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false(value: Any) -> bool:
    return as_flag(value) is False


def is_set(value: Any) -> bool:
    """Fail-closed reading of a dangerous switch: anything but absent, false-like or empty counts as on."""
    if value is None or is_false(value):
        return False
    if isinstance(value, (list, dict)) and not value:
        return False
    return True
