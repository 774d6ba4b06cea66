"""The API server's OpenAPI 3.1 document, generated from the pydantic models and the route table.

`OPERATIONS` describes each route; a test checks that it and the app's router list the same routes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from .models import ActionAnswer, ErrorBody, EventList, ResumeBody, RuntimeList, RuntimeView, SuspendBody

__all__ = ["OPERATIONS", "openapi_document"]

_RUNTIME_PARAMS = [
    {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
]
_WAIT = {"name": "wait", "in": "query", "required": False, "schema": {"type": "boolean"},
         "description": "Answer when the phase is reached (else 202 with a Location to poll)."}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/runtimes"): {
        "summary": "List runtimes (scope read)", "params": [
            {"name": "namespace", "in": "query", "required": False, "schema": {"type": "string"}}],
        "responses": {200: RuntimeList}},
    ("GET", "/v1/runtimes/{namespace}/{name}"): {
        "summary": "One runtime: XTrinode status merged with the workflow's live status (scope read)",
        "params": _RUNTIME_PARAMS, "responses": {200: RuntimeView, 304: None, 404: ErrorBody}},
    ("POST", "/v1/runtimes/{namespace}/{name}/resume"): {
        "summary": "Resume (scope resume); identical concurrent calls share one update",
        "params": [*_RUNTIME_PARAMS, _WAIT], "body": ResumeBody,
        "responses": {200: ActionAnswer, 202: ActionAnswer, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody}},
    ("POST", "/v1/runtimes/{namespace}/{name}/suspend"): {
        "summary": "Suspend (scope admin)", "params": [*_RUNTIME_PARAMS, _WAIT], "body": SuspendBody,
        "responses": {200: ActionAnswer, 202: ActionAnswer, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody}},
    ("GET", "/v1/runtimes/{namespace}/{name}/events"): {
        "summary": "Recent lifecycle steps and Kubernetes Events, newest first (scope read)",
        "params": [*_RUNTIME_PARAMS, {"name": "limit", "in": "query", "required": False,
                                       "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
        "responses": {200: EventList, 404: ErrorBody}},
    ("GET", "/healthz"): {"summary": "Liveness (no auth)", "open": True, "responses": {200: None}},
    ("GET", "/readyz"): {"summary": "Readiness (no auth)", "open": True, "responses": {200: None, 503: None}},
    ("GET", "/metrics"): {"summary": "Prometheus metrics (no auth)", "open": True, "responses": {200: None}},
    ("GET", "/openapi.json"): {"summary": "This document (no auth)", "open": True, "responses": {200: None}},
}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (RuntimeList, RuntimeView, ActionAnswer, EventList, ErrorBody, ResumeBody, SuspendBody):
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
    return schemas


def _response(model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        return {"description": "see the summary"}
    return {"description": model.__doc__.strip().splitlines()[0] if model.__doc__ else model.__name__,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}


def openapi_document(app: web.Application | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in OPERATIONS.items():
        operation: dict[str, Any] = {
            "summary": op["summary"],
            "parameters": op.get("params", []),
            "responses": {str(status): _response(model) for status, model in op["responses"].items()},
        }
        if not op.get("open"):
            operation["security"] = [{"bearer": []}]
            operation["responses"].setdefault("401", _response(ErrorBody))
            operation["responses"].setdefault("400", _response(ErrorBody))
        if "body" in op:
            operation["requestBody"] = {"required": False, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{op['body'].__name__}"}}}}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "XTrinode API server", "version": "v1",
                 "description": "Resume, suspend and read the status of Trino runtimes (thin client of their "
                                "lifecycle workflows). Errors are JSON {error, code, requestId}."},
        "paths": paths,
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "A token from the tokens Secret, or an OIDC JWT"}}},
    }
