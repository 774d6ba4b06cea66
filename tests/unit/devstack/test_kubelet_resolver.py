"""`ServiceResolver` over services.json: in-cluster URLs become local ready addresses (path, query
and user info kept, default ports honoured, several pods used in turn), unknown or unready services
and a missing file leave URLs unchanged, the file is re-read when it changes, bad files say why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devstack.resolver import ServiceResolver

FQDN = "trino-demo.analytics.svc.cluster.local"


def _write(path: Path, mapping: dict[str, list[str]]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(mapping))
    os.replace(temporary, path)


def test_known_service_urls_resolve_to_local_addresses(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    _write(path, {f"{FQDN}:8080": ["127.16.0.1:8080"], "gw.system.svc:80": ["127.16.0.2:80"]})
    resolver = ServiceResolver(path)
    assert resolver.resolve_url(f"http://{FQDN}:8080/v1/info?x=1") == "http://127.16.0.1:8080/v1/info?x=1"
    assert resolver.resolve_url(f"http://user:pw@{FQDN.upper()}:8080/") == "http://user:pw@127.16.0.1:8080/"
    assert resolver.resolve_url("http://gw.system.svc/load") == "http://127.16.0.2:80/load"


def test_unknown_and_unready_services_stay_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    _write(path, {f"{FQDN}:8080": []})
    resolver = ServiceResolver(path)
    assert resolver.resolve_url(f"http://{FQDN}:8080/v1/info") == f"http://{FQDN}:8080/v1/info"
    assert resolver.resolve_url("https://example.com/x") == "https://example.com/x"
    assert ServiceResolver(tmp_path / "missing.json").resolve_url(f"http://{FQDN}:8080") == f"http://{FQDN}:8080"


def test_several_ready_pods_are_used_in_turn(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    _write(path, {f"{FQDN}:8080": ["127.16.0.1:8080", "127.16.0.2:8080"]})
    resolver = ServiceResolver(path)
    seen = {resolver.resolve_url(f"http://{FQDN}:8080") for _ in range(4)}
    assert seen == {"http://127.16.0.1:8080", "http://127.16.0.2:8080"}


def test_changes_to_the_file_are_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    _write(path, {f"{FQDN}:8080": ["127.16.0.1:8080"]})
    resolver = ServiceResolver(path)
    assert resolver.addresses(FQDN, 8080) == ["127.16.0.1:8080"]
    _write(path, {f"{FQDN}:8080": ["127.16.0.3:8080"]})
    assert resolver.resolve_url(f"http://{FQDN}:8080") == "http://127.16.0.3:8080"
    path.unlink()
    assert resolver.addresses(FQDN, 8080) is None


def test_a_corrupt_file_says_who_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="devstack kubelet"):
        ServiceResolver(path).resolve_url(f"http://{FQDN}:8080")
