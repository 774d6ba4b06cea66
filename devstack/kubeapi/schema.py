"""Structural-schema handling for custom resources: defaults, pruning and validation.

Follows the apiextensions apiserver: defaults first, then pruning of unknown fields (reported so
the server can warn or reject under fieldValidation), then validation into 422 `causes`, CEL rules
(`x-kubernetes-validations`, evaluated with cel-python) included; metadata.name is checked against
the schema's restrictions for it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy.adapter import json_to_cel

JsonDict = dict[str, Any]

_ROOT_FIELDS = {"apiVersion", "kind", "metadata"}


@dataclass
class Outcome:
    """What the schema did to an object: the result, pruned paths and validation causes."""

    obj: JsonDict
    unknown: list[str] = field(default_factory=list)
    causes: list[JsonDict] = field(default_factory=list)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _json_type(value)
    return json.dumps(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _preserves(schema: JsonDict) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def apply_defaults(value: Any, schema: JsonDict) -> Any:
    """Fill in `default`s of absent properties, recursively, as the apiserver does on read and write."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in props:
                    value[key] = apply_defaults(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(v, schema["items"]) for v in value]
    return value


def drop_nulls(value: Any, schema: JsonDict, *, root: bool = False) -> Any:
    """Remove object fields that are null where the schema does not say `nullable: true`: kube-apiserver
    prunes them before defaulting instead of refusing them."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, dict) else None)
            if root and key in _ROOT_FIELDS or sub_schema is None:
                out[key] = sub
            elif sub is None and not sub_schema.get("nullable"):
                continue
            else:
                out[key] = drop_nulls(sub, sub_schema)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [drop_nulls(v, schema["items"]) for v in value]
    return value


def prune(value: Any, schema: JsonDict, path: str, unknown: list[str], *, root: bool = False) -> Any:
    """Drop fields the schema does not specify; record their paths in `unknown`."""
    if isinstance(value, dict):
        if _preserves(schema) and "properties" not in schema:
            return value
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub_value in value.items():
            if root and key in _ROOT_FIELDS:
                out[key] = sub_value
            elif key in props:
                out[key] = prune(sub_value, props[key], _join(path, key), unknown)
            elif isinstance(extra, dict):
                out[key] = prune(sub_value, extra, _join(path, key), unknown)
            elif extra is True or _preserves(schema):
                out[key] = sub_value
            else:
                unknown.append(_join(path, key))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(v, schema["items"], f"{path}[{i}]", unknown) for i, v in enumerate(value)]
    return value


def _type_ok(value: Any, schema: JsonDict) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    expected = schema.get("type")
    if not expected:
        return True
    actual = _json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _invalid(path: str, value: Any, detail: str, reason: str = "FieldValueInvalid") -> JsonDict:
    return {
        "reason": reason,
        "message": f"Invalid value: {_show(value)}: {detail}",
        "field": path,
    }


def validate(value: Any, schema: JsonDict, path: str, causes: list[JsonDict]) -> None:
    """Append a cause for every way `value` breaks `schema` (stops descending at a wrong type)."""
    # A wrong type shows the value's JSON type as the invalid value, as kube-apiserver does.
    if value is None:
        if not schema.get("nullable"):
            causes.append(_invalid(path, "null", f"{path} in body must be of type {schema.get('type', 'object')}: \"null\"",
                                   "FieldValueTypeInvalid"))
        return
    if not _type_ok(value, schema):
        expected = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        causes.append(
            _invalid(path, _json_type(value), f'{path} in body must be of type {expected}: "{_json_type(value)}"',
                     "FieldValueTypeInvalid")
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f"Unsupported value: {_show(value)}: supported values: {supported}",
                "field": path,
            }
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, causes)
    if isinstance(value, str):
        _check_string(value, schema, path, causes)
    if isinstance(value, list):
        _check_array(value, schema, path, causes)
    if isinstance(value, dict):
        _check_object(value, schema, path, causes)
    if schema.get("x-kubernetes-validations"):
        _check_rules(value, schema["x-kubernetes-validations"], path, causes)


@functools.lru_cache(maxsize=512)
def compile_rule(rule: str) -> Any:
    """A CEL rule compiled once (cel-python); raises CELParseError for a rule that does not parse."""
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _check_rules(value: Any, rules: list[JsonDict], path: str, causes: list[JsonDict]) -> None:
    """`x-kubernetes-validations` on this node, `self` bound to the (defaulted) value, as the apiserver
    evaluates them; rules that use `oldSelf` are transition rules and are not checked on create."""
    bound = json_to_cel(value)
    for rule in rules:
        text = str(rule.get("rule", ""))
        if "oldSelf" in text:
            continue
        field_path = _join(path, str(rule["fieldPath"]).lstrip(".")) if rule.get("fieldPath") else path
        try:
            result = compile_rule(text).evaluate({"self": bound})
        except Exception as e:  # cel-python raises its own evaluation errors; the apiserver reports them
            causes.append(_invalid(field_path or "<nil>", value, f"rule {text!r} could not be evaluated: {e}"))
            continue
        if result is not True and not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            message = str(rule.get("message") or f"failed rule: {text}")
            reason = str(rule.get("reason") or "FieldValueInvalid")
            causes.append({"reason": reason, "message": f"Invalid value: {_show(value)}: {message}",
                           "field": field_path or "<nil>"})


def rule_errors(schema: Any, path: str) -> list[JsonDict]:
    """Causes for CEL rules of a CRD schema that do not compile (the apiserver refuses such a CRD)."""
    if not isinstance(schema, dict):
        return []
    causes: list[JsonDict] = []
    for i, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        text = rule.get("rule") if isinstance(rule, dict) else None
        where = f"{path}.x-kubernetes-validations[{i}].rule"
        if not isinstance(text, str) or not text:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": where})
            continue
        try:
            compile_rule(text)
        except Exception as e:
            causes.append(_invalid(where, text, f"compilation failed: {str(e).splitlines()[0][:200]}"))
    for name, sub in (schema.get("properties") or {}).items():
        causes += rule_errors(sub, f"{path}.properties[{name}]")
    for key in ("items", "additionalProperties"):
        causes += rule_errors(schema.get(key), f"{path}.{key}")
    return causes


def _check_number(value: float, schema: JsonDict, path: str, causes: list[JsonDict]) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None:
        if schema.get("exclusiveMinimum") and value <= low:
            causes.append(_invalid(path, value, f"{path} in body should be greater than {low}"))
        elif value < low:
            causes.append(_invalid(path, value, f"{path} in body should be greater than or equal to {low}"))
    if high is not None:
        if schema.get("exclusiveMaximum") and value >= high:
            causes.append(_invalid(path, value, f"{path} in body should be less than {high}"))
        elif value > high:
            causes.append(_invalid(path, value, f"{path} in body should be less than or equal to {high}"))
    multiple = schema.get("multipleOf")
    if multiple and value % multiple:
        causes.append(_invalid(path, value, f"{path} in body should be a multiple of {multiple}"))


def _check_string(value: str, schema: JsonDict, path: str, causes: list[JsonDict]) -> None:
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
        return
    if "minLength" in schema and len(value) < schema["minLength"]:
        causes.append(_invalid(path, value, f"{path} in body should be at least {schema['minLength']} chars long"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        message = f"Too long: may not be more than {schema['maxLength']} bytes"
        causes.append({"reason": "FieldValueTooLong", "message": message, "field": path})
    pattern = schema.get("pattern")
    if pattern and not re.search(pattern, value):
        causes.append(_invalid(path, value, f"{path} in body should match '{pattern}'"))


def _check_array(value: list[Any], schema: JsonDict, path: str, causes: list[JsonDict]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        causes.append(_invalid(path, len(value), f"{path} in body should have at least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        message = f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
        causes.append({"reason": "FieldValueTooMany", "message": message, "field": path})
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            validate(item, items, f"{path}[{i}]", causes)
    if schema.get("x-kubernetes-list-type") == "set":
        seen = [json.dumps(v, sort_keys=True) for v in value]
        for i, s in enumerate(seen):
            if s in seen[:i]:
                message = f"Duplicate value: {_show(value[i])}"
                causes.append({"reason": "FieldValueDuplicate", "message": message, "field": f"{path}[{i}]"})


def _check_object(value: JsonDict, schema: JsonDict, path: str, causes: list[JsonDict]) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": _join(path, name)})
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        causes.append(_invalid(path, len(value), f"{path} in body should have at least {schema['minProperties']} properties"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        causes.append(_invalid(path, len(value), f"{path} in body should have at most {schema['maxProperties']} properties"))
    extra = schema.get("additionalProperties")
    for key, sub_value in value.items():
        if key in props:
            validate(sub_value, props[key], _join(path, key), causes)
        elif isinstance(extra, dict):
            validate(sub_value, extra, _join(path, key), causes)


def process(obj: JsonDict, schema: JsonDict | None) -> Outcome:
    """Default, prune and validate a custom object (metadata, apiVersion and kind are left alone)."""
    if not schema:
        return Outcome(obj)
    result = apply_defaults(drop_nulls(copy.deepcopy(obj), schema, root=True), schema)
    unknown: list[str] = []
    result = prune(result, schema, "", unknown, root=True)
    causes: list[JsonDict] = []
    body = {k: v for k, v in result.items() if k not in _ROOT_FIELDS}
    body_schema = {**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items() if k not in _ROOT_FIELDS}}
    body_schema["required"] = [r for r in schema.get("required") or () if r not in _ROOT_FIELDS]
    name_schema = ((schema.get("properties") or {}).get("metadata") or {}).get("properties", {}).get("name")
    name = (result.get("metadata") or {}).get("name")
    if isinstance(name_schema, dict) and isinstance(name, str):
        validate(name, name_schema, "metadata.name", causes)
    validate(body, body_schema, "", causes)
    return Outcome(result, unknown, causes)


def list_type(schema: JsonDict | None, path: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The x-kubernetes-list-type (and map keys) of the list at `path`, for server-side apply."""
    node: JsonDict | None = schema
    for name in path:
        if node is None:
            return ("atomic", ())
        if node.get("type") == "array":
            node = node.get("items")
            if node is None:
                return ("atomic", ())
        props = node.get("properties") or {}
        if name in props:
            node = props[name]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return ("atomic", ())
    if node is None:
        return ("atomic", ())
    kind = node.get("x-kubernetes-list-type", "atomic")
    return (kind, tuple(node.get("x-kubernetes-list-map-keys") or ()))
