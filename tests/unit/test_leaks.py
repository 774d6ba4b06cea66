"""The secret-leak guard (tests/leaks.py) catches what it must and names no secret.

Checks: a pytest run (a subprocess with the guard as its plugin) whose test logs a secret-named constant
and whose process log file holds a registered password fails although its tests pass, naming the file and
the kind of each secret and printing neither value; the same run without the leaks passes; a Secret body
gives its values (base64 `data` decoded, `stringData`); a secret is also found base64-encoded and line by
line; values shorter than 8 characters and constants that only name a Secret are not looked for.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.leaks import LeakGuard, _secret_values, constants_of_test_modules, log_files

REPO = Path(__file__).resolve().parents[2]
PLANTED_TOKEN = "planted-token-" + "4f9c2a7e"
PLANTED_PASSWORD = "planted-pass-" + "81d0b3"

_INNER = '''
import logging

from tests.leaks import register

API_TOKEN = {token!r}


def test_a_component_logs_a_token():
    logging.getLogger("xtrinode.gateway").warning("forwarding with %s", {token_expr})


def test_a_process_log_holds_a_password(tmp_path):
    register({password!r}, "redis password")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "gateway.log").write_text("connecting with " + {password_expr} + "\\n")
'''


def _run_inner(leak: bool) -> subprocess.CompletedProcess[str]:
    """The inner run, outside this run's temporary directory (whose logs this run's guard greps)."""
    with tempfile.TemporaryDirectory(prefix="leak-guard-test-") as folder:
        where = Path(folder)
        (where / "test_planted.py").write_text(_INNER.format(
            token=PLANTED_TOKEN, password=PLANTED_PASSWORD, token_expr="API_TOKEN" if leak else "'a token'",
            password_expr=repr(PLANTED_PASSWORD) if leak else "'*'"))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "tests.leaks", "-p", "no:cacheprovider",
             "--basetemp", str(where / "basetemp"), "-c", os.devnull, "--rootdir", str(where),
             str(where / "test_planted.py")],
            cwd=where, env=env, capture_output=True, text=True, timeout=60)


def test_a_planted_leak_fails_the_run_naming_file_and_kind_but_not_the_secret() -> None:
    result = _run_inner(leak=True)
    output = result.stdout + result.stderr
    assert "2 passed" in output, output
    assert result.returncode == 1, output
    assert "secret-leak guard: 2 leak(s)" in output, output
    assert "leak-guard/records.log: test_planted.API_TOKEN" in output, output
    assert "logs/gateway.log: redis password" in output, output
    assert PLANTED_TOKEN not in output and PLANTED_PASSWORD not in output


def test_the_same_run_without_leaks_passes() -> None:
    result = _run_inner(leak=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "secret-leak guard" not in result.stdout


def test_secret_bodies_give_their_values() -> None:
    body = {"metadata": {"name": "creds"}, "data": {"password": base64.b64encode(b"s3cret-value").decode()},
            "stringData": {"token": "plain-token-value"}}
    assert list(_secret_values(body)) == [("creds/password", "s3cret-value"), ("creds/token", "plain-token-value")]


def test_forms_lengths_and_names(tmp_path: Path) -> None:
    guard = LeakGuard()
    guard.register("short", "too short")
    guard.register({"a": "first-line-secret\nsecond-line-secret"}, "password file", by_line=True)
    assert guard.kinds == {"password file", "password file (base64)", "password file (a line of it)"}
    # A multi-line test constant (a manifest named *_PASSWORD...) is looked for whole, not line by line:
    # its lines are plain YAML ("kind: XTrinode") that every API server log holds.
    constant = LeakGuard()
    constant.register("apiVersion: analytics.xtrinode.io/v1\nkind: XTrinode\n", "module.SEED_PASSWORD")
    assert constant.scan_text("kind: XTrinode") == []
    encoded = base64.b64encode(b"first-line-secret\nsecond-line-secret").decode()
    (tmp_path / "a.log").write_text(f"body {encoded}\n")
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "spans").write_text("attr=second-line-secret")
    (tmp_path / "config.yaml").write_text("second-line-secret")  # not a log: a test's own input
    assert log_files(tmp_path) == [tmp_path / "a.log", tmp_path / "traces" / "spans"]
    assert sorted((p.name, kind) for p, kind in guard.scan(log_files(tmp_path))) == [
        ("a.log", "password file (base64)"), ("spans", "password file (a line of it)")]
    names = {kind.rsplit(".", 1)[-1] for _, kind in constants_of_test_modules()}
    assert {"PLANTED_TOKEN", "PLANTED_PASSWORD"} <= names
