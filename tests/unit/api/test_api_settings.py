"""ApiServerSettings as the chart writes them (workers/api/settings.py).

Checks: the Temporal TLS files and the API key (from the environment) reach the client settings; the
key is never shown.
"""

from __future__ import annotations

from pathlib import Path

from workers.api.settings import ENV_PREFIX, ApiServerSettings
from xtrinode.settings_files import load_settings_file


def test_temporal_tls_files_and_api_key_reach_the_client_settings(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text("auth: {tokens: {file: /etc/xtrinode/api-tokens/tokens.yaml}}\n"
                    "temporal: {address: 't.example:7233', namespace: prod, tlsCaFile: /tls/ca.crt, "
                    "tlsCertFile: /tls/tls.crt, tlsKeyFile: /tls/tls.key}\n")
    s = load_settings_file(ApiServerSettings, path, ENV_PREFIX, "api server",
                           {"XTRINODE_API__TEMPORAL__APIKEY": "tk-2"})
    t = s.temporal.to_temporal()
    assert (t.address, t.namespace, str(t.tls_ca_file), str(t.tls_key_file)) == (
        "t.example:7233", "prod", "/tls/ca.crt", "/tls/tls.key")
    assert t.api_key == "tk-2" and "tk-2" not in repr(s)
