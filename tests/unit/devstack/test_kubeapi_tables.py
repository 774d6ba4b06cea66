"""Pure tests of Table rendering: ages as kubectl prints them, printer-column jsonPaths, row shape.

Checks `human_age` thresholds, the jsonPath subset (fields, indexes, `[?(@.type=="Ready")]`),
CRD columns with date cells turned into ages, and PartialObjectMetadata rows without managedFields.
"""

from __future__ import annotations

import datetime as dt

import pytest

from devstack.kubeapi.resources import types_from_crd
from devstack.kubeapi.tables import human_age, json_path, table

NOW = dt.datetime(2026, 1, 10, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("seconds", "shown"), [
    (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600, "3h"), (5 * 3600 + 60, "5h1m"),
    (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (9 * 86400, "9d"),
])
def test_human_age_matches_kubectl(seconds: int, shown: str) -> None:
    stamp = (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert human_age(stamp, NOW) == shown


def test_human_age_of_nothing_is_unknown() -> None:
    assert human_age(None) == "<unknown>" and human_age("garbage") == "<unknown>"


def test_json_path_subset() -> None:
    obj = {"spec": {"size": "s", "list": [1, 2]}, "status": {"conditions": [{"type": "A", "status": "x"}, {"type": "Ready", "status": "True"}]}}
    assert json_path(obj, ".spec.size") == "s"
    assert json_path(obj, ".spec.list[1]") == 2
    assert json_path(obj, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert json_path(obj, ".status.missing.deeper") is None


def test_crd_table_uses_printer_columns() -> None:
    crd = {
        "metadata": {"name": "things.x.io"},
        "spec": {
            "group": "x.io", "scope": "Namespaced", "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "additionalPrinterColumns": [
                {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                {"name": "Count", "type": "integer", "jsonPath": ".spec.count"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ]}],
        },
    }
    rt = types_from_crd(crd)[0]
    obj = {"metadata": {"name": "a", "namespace": "n", "creationTimestamp": "2020-01-01T00:00:00Z", "managedFields": [{}]}, "spec": {"size": "m", "count": 3}}
    out = table(rt, [obj], {"resourceVersion": "7"})
    assert [c["name"] for c in out["columnDefinitions"]] == ["Name", "Size", "Count", "Age"]
    cells = out["rows"][0]["cells"]
    assert cells[:3] == ["a", "m", 3] and cells[3].endswith("d")
    assert out["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert "managedFields" not in out["rows"][0]["object"]["metadata"]
