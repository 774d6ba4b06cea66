"""Pure tests of label and field selector parsing and matching.

Checks every label operator (with `!=`/`notin` matching absent keys), comma-ANDing, parse errors,
and field selectors limited to metadata.name/namespace plus the kind's supported fields.
"""

from __future__ import annotations

import pytest

from devstack.kubeapi.selectors import (
    SelectorError,
    Selection,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)


def _obj(labels: dict[str, str] | None = None, name: str = "n", namespace: str = "ns", **extra: object) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, **extra}


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("tier in (a, b)", {"tier": "b"}, True),
    ("tier in (a,b)", {}, False),
    ("tier notin (a,b)", {}, True),
    ("tier notin (a,b)", {"tier": "a"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("app=web,tier in (a),!legacy", {"app": "web", "tier": "a"}, True),
    ("app=web,tier in (a),!legacy", {"app": "web", "tier": "a", "legacy": "1"}, False),
    ("example.com/role=x", {"example.com/role": "x"}, True),
    ("", {"any": "thing"}, True),
])
def test_label_selector_operators(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert labels_match(parse_label_selector(selector), _obj(labels)) is expected


@pytest.mark.parametrize("bad", ["a in b", "a=b=c", "a,,b", "=x", f"a={'v' * 64}"])
def test_malformed_label_selectors_raise(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_field_selectors_match_metadata_and_supported_fields() -> None:
    sel = Selection(fields=tuple(parse_field_selector("metadata.name=a,status.phase!=Running", ("status.phase",))))
    assert sel.matches(_obj(name="a", status={"phase": "Pending"}))
    assert not sel.matches(_obj(name="a", status={"phase": "Running"}))
    assert not sel.matches(_obj(name="b"))
    assert Selection(fields=tuple(parse_field_selector("metadata.namespace==ns"))).matches(_obj())


def test_unsupported_field_is_an_error_naming_it() -> None:
    with pytest.raises(SelectorError, match="field label not supported: spec.foo"):
        parse_field_selector("spec.foo=1")
