"""Reading manifests from YAML/JSON files as kubectl would send them.

Errors name the file, the document, the field path and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from xtrinode.models import GROUP_VERSION, XTrinode, XTrinodeCatalog

__all__ = ["LoadError", "Document", "Manifests", "load_documents", "load_manifests", "format_validation_error"]


class LoadError(Exception):
    """A manifest file that cannot be read or does not describe a valid object."""


@dataclass(frozen=True)
class Document:
    source: str
    index: int
    body: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.index + 1})"


@dataclass
class Manifests:
    runtimes: list[XTrinode] = field(default_factory=list)
    catalogs: list[XTrinodeCatalog] = field(default_factory=list)
    others: list[Document] = field(default_factory=list)


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: `spec.minWorkers: Input should be ... (got -1)`."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "<root>"
        if prefix:
            path = f"{prefix}.{path}"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message} (got {item.get('input')!r})" if item["type"] != "missing"
                     else f"{path}: required field is missing")
    return lines


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """Every non-empty YAML or JSON document of every file; `-` reads stdin."""
    docs: list[Document] = []
    for raw_path in paths:
        path = str(raw_path)
        try:
            if path == "-":
                import sys

                text = sys.stdin.read()
            else:
                text = Path(path).read_text()
        except OSError as e:
            raise LoadError(f"{path}: cannot read file: {e.strerror}") from e
        try:
            parsed = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            reason = getattr(e, "problem", None) or str(e)
            raise LoadError(f"{path}:{where}: not valid YAML: {reason}") from e
        for index, body in enumerate(parsed):
            if body is None:
                continue
            if isinstance(body, dict) and body.get("kind") == "List" and isinstance(body.get("items"), list):
                for sub, item in enumerate(body["items"]):
                    docs.append(_check(Document(f"{path} item {sub + 1}", index, item)))
                continue
            docs.append(_check(Document(path, index, body)))
    return docs


def _check(doc: Document) -> Document:
    body = doc.body
    if not isinstance(body, dict):
        raise LoadError(f"{doc.where}: expected a Kubernetes object (a mapping), got {type(body).__name__}")
    for key in ("apiVersion", "kind"):
        if not isinstance(body.get(key), str):
            raise LoadError(f"{doc.where}: missing {key}; every object needs apiVersion and kind")
    return doc


def load_manifests(paths: Iterable[str | Path], default_namespace: str = "default") -> Manifests:
    """Parse files into typed XTrinode / XTrinodeCatalog objects; other kinds are kept raw."""
    out = Manifests()
    for doc in load_documents(paths):
        body = doc.body
        if body["apiVersion"] == GROUP_VERSION and body["kind"] in ("XTrinode", "XTrinodeCatalog"):
            body = {**body, "metadata": {"namespace": default_namespace, **(body.get("metadata") or {})}}
            model: type[XTrinode] | type[XTrinodeCatalog] = (
                XTrinode if body["kind"] == "XTrinode" else XTrinodeCatalog
            )
            try:
                obj = model.model_validate(body)
            except ValidationError as e:
                name = (body.get("metadata") or {}).get("name", "?")
                details = "\n  ".join(format_validation_error(e))
                raise LoadError(f"{doc.where}: {body['kind']} {name!r} is invalid:\n  {details}") from e
            if isinstance(obj, XTrinode):
                out.runtimes.append(obj)
            else:
                out.catalogs.append(obj)
        else:
            out.others.append(doc)
    return out
