"""Label and field selectors as the apiserver parses them, with 400-worthy errors for bad input.

`parse_label_selector("app=web,tier in (a,b),!legacy")` gives a matcher over an object's labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|!=|=)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    """A selector that does not parse; the server answers 400 with this message."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _check_value(value: str, selector: str) -> str:
    if len(value) > 63 or not re.fullmatch(_VALUE, value):
        raise SelectorError(
            f"unable to parse requirement: values[0]: Invalid value: {value!r}: a valid label must "
            f"be at most 63 characters of alphanumerics, '-', '_' or '.' (selector {selector!r})"
        )
    return value


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-ANDed."""
    if not text or not text.strip():
        return []
    reqs = []
    for part in _split_top_level(text):
        if not part.strip():
            raise SelectorError(f"found empty requirement in label selector {text!r}")
        if m := _SET_RE.match(part):
            values = tuple(_check_value(v.strip(), text) for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _CMP_RE.match(part):
            op = "=" if m.group(2) in ("=", "==") else "!="
            reqs.append(Requirement(m.group(1), op, (_check_value(m.group(3), text),)))
        elif m := _EXISTS_RE.match(part):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise SelectorError(
                f"unable to parse requirement {part.strip()!r} in label selector {text!r}; use "
                "k=v, k!=v, k in (a,b), k notin (a,b), k or !k"
            )
    return reqs


def labels_match(reqs: list[Requirement], obj: JsonDict) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str


def parse_field_selector(text: str | None, supported: tuple[str, ...] = (), *,
                         list_known: bool = False) -> list[FieldRequirement]:
    """Parse `f=v`, `f==v`, `f!=v`; only metadata.name, metadata.namespace and `supported` fields.

    `list_known`: refuse an unknown field naming the known ones, as kube-apiserver v1.37 does for
    ConfigMaps (other kinds still answer `field label not supported`)."""
    if not text or not text.strip():
        return []
    allowed = {"metadata.name", "metadata.namespace", *supported}
    reqs = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*", part)
        if not m:
            raise SelectorError(f"invalid field selector {part!r}: use field=value or field!=value")
        path, op, value = m.groups()
        if path not in allowed:
            if list_known:
                known = ", ".join(f'"{f}"' for f in ("metadata.name", "metadata.namespace", *supported))
                raise SelectorError(f'"{path}" is not a known field selector: only {known}')
            raise SelectorError(f"field label not supported: {path}")
        reqs.append(FieldRequirement(path, op != "!=", value))
    return reqs


def _field_value(obj: JsonDict, path: str) -> str:
    node: Any = obj
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def fields_match(reqs: list[FieldRequirement], obj: JsonDict) -> bool:
    return all((_field_value(obj, r.path) == r.value) == r.equal for r in reqs)


@dataclass(frozen=True)
class Selection:
    """Both selectors of a list or watch request."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: JsonDict) -> bool:
        return labels_match(list(self.labels), obj) and fields_match(list(self.fields), obj)
