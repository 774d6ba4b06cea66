"""Secret-leak guard (a pytest plugin, registered by tests/conftest.py): at the end of the run it greps
what the suite produced for the secrets the tests used, and fails the run naming the file and the kind
of secret (never the secret itself).

The secrets: every value of a Kubernetes Secret the tests create, patch or replace through the official
client (base64 `data` decoded, `stringData`), the module-level constants of test modules whose names end
in what they hold (`*PASSWORD`, `*TOKEN(S)`, `*API_KEY(S)`, `*SECRET(S)`; strings, or the strings in a dict,
list or tuple; `SEED_PASSWORD_OVERLAY` names Secrets and is not one), and what a test hands to `register()`. Each is
also looked for base64-encoded, and a Secret's multi-line values line by line too (a password file, a key;
a constant's lines are often plain YAML); values shorter than 8 characters are too common to look for.

What is grepped: every log-like file under the run's temporary directory (`*.log`, `*.jsonl`, `*.out`,
`*.err`, anything under a `logs/` or `traces/` directory): the logs of the processes the tests start, the
kubelet's pod logs, span files; the log records of this process (a handler on the root logger writes them,
INFO and up, to `<basetemp>/leak-guard/records.log`); and the XTrinode objects (statuses) and Kubernetes
Events the tests and in-process components read or wrote through the official client (their response
bodies, to `<basetemp>/leak-guard/kube.log`).
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__ = ["LeakGuard", "register"]

MIN_LENGTH = 8
LOG_SUFFIXES = frozenset({".log", ".jsonl", ".out", ".err"})
LOG_DIRS = frozenset({"logs", "traces"})
_CONSTANT = re.compile(r"[A-Z0-9_]*(PASSWORD|TOKEN|API_?KEY|SECRET)S?")
_KUBE_PATHS = re.compile(r"/(xtrinodes|events)(/|\?|$)")
_MAX_BYTES = 64 * 1024 * 1024


class LeakGuard:
    """The secrets to look for (value -> kind) and the scan of files for them."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, value: object, kind: str, *, by_line: bool = False) -> None:
        """Look for `value` (a str, or the strings in a dict, list or tuple); `kind` names it in reports.
        `by_line`: each line of a multi-line value is a secret too (a Secret's password file, a key); not
        for a test constant, whose lines are often ordinary YAML or commands."""
        if isinstance(value, dict):
            for item in value.values():
                self.register(item, kind, by_line=by_line)
            return
        if isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                self.register(item, kind, by_line=by_line)
            return
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        with self._lock:
            for candidate, how in self._forms(value, kind, by_line):
                if len(candidate) >= MIN_LENGTH:
                    self._secrets.setdefault(candidate, how)

    @staticmethod
    def _forms(value: str, kind: str, by_line: bool) -> Iterator[tuple[str, str]]:
        yield value, kind
        yield base64.b64encode(value.encode()).decode(), f"{kind} (base64)"
        lines = [line.strip() for line in value.splitlines()]
        if by_line and len(lines) > 1:
            for line in lines:
                yield line, f"{kind} (a line of it)"

    @property
    def kinds(self) -> set[str]:
        return set(self._secrets.values())

    def __len__(self) -> int:
        return len(self._secrets)

    def scan_text(self, text: str) -> list[str]:
        """The kinds of secret found in `text`."""
        with self._lock:
            secrets = list(self._secrets.items())
        return sorted({kind for value, kind in secrets if value in text})

    def scan(self, paths: Iterable[Path]) -> list[tuple[Path, str]]:
        """(file, kind) for every secret found in the files."""
        found = []
        for path in paths:
            try:
                with path.open("rb") as f:
                    text = f.read(_MAX_BYTES).decode("utf-8", "replace")
            except OSError:
                continue
            found += [(path, kind) for kind in self.scan_text(text)]
        return found


def log_files(root: Path) -> list[Path]:
    """The log-like files under `root` (see the module docstring)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                  and (p.suffix in LOG_SUFFIXES or LOG_DIRS & set(p.relative_to(root).parts[:-1])))


TESTS = Path(__file__).resolve().parent


def constants_of_test_modules(collected: Iterable[ModuleType] = ()) -> Iterator[tuple[object, str]]:
    """(value, "module.NAME") for the secret-looking module-level constants of the collected test modules
    and of every loaded module under tests/ (helpers, conftest files)."""
    modules = {id(m): m for m in collected}
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if name != __name__ and where and Path(where).resolve().is_relative_to(TESTS):
            modules[id(module)] = module
    for module in modules.values():
        name = module.__name__
        for attr, value in list(vars(module).items()):
            if _CONSTANT.fullmatch(attr) and isinstance(value, (str, bytes, dict, list, tuple)):
                yield value, f"{name}.{attr}"


_GUARD = LeakGuard()


def register(value: object, kind: str, *, by_line: bool = False) -> None:
    """Tests with secrets made at run time (generated passwords, tokens) name them here."""
    _GUARD.register(value, kind, by_line=by_line)


# -- collection -------------------------------------------------------------------------------------
def _secret_values(body: Any) -> Iterator[tuple[str, object]]:
    if body is None:
        return
    if not isinstance(body, dict):  # a V1Secret
        to_dict = getattr(body, "to_dict", None)
        body = to_dict() if to_dict is not None else {}
        body = {"data": body.get("data"), "stringData": body.get("string_data")}
    name = str((body.get("metadata") or {}).get("name") or "")
    for key, value in (body.get("data") or {}).items():
        try:
            decoded: object = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except ValueError:
            decoded = value
        yield f"{name}/{key}", decoded
    for key, value in (body.get("stringData") or body.get("string_data") or {}).items():
        yield f"{name}/{key}", value


def _watch_secret_writes() -> None:
    from kubernetes.client import CoreV1Api

    for method in ("create_namespaced_secret", "patch_namespaced_secret", "replace_namespaced_secret"):
        original = getattr(CoreV1Api, method)
        if getattr(original, "_leak_guard", False):
            continue

        def wrapper(self: Any, *args: Any, __original: Any = original, __method: str = method, **kw: Any) -> Any:
            body = kw.get("body", args[-1] if args else None)
            for where, value in _secret_values(body):
                _GUARD.register(value, f"Secret value {where or '(unnamed)'}", by_line=True)
            return __original(self, *args, **kw)

        wrapper._leak_guard = True  # type: ignore[attr-defined]
        setattr(CoreV1Api, method, wrapper)


def _record_kube_bodies(sink: Path) -> None:
    """Keep the response bodies of XTrinode and Event calls (not watches) for the final grep."""
    from kubernetes.client import rest

    original = rest.RESTClientObject.request
    if getattr(original, "_leak_guard", False):
        return
    lock = threading.Lock()

    def request(self: Any, method: str, url: str, *args: Any, **kw: Any) -> Any:
        response = original(self, method, url, *args, **kw)
        if _KUBE_PATHS.search(url.split("?")[0]) and "watch=" not in url:
            data = response.response.data  # urllib3 caches it: the caller still reads it
            with lock, sink.open("ab") as f:
                f.write(f"{method} {url.split('?')[0]}\n".encode() + (data or b"") + b"\n")
        return response

    request._leak_guard = True  # type: ignore[attr-defined]
    rest.RESTClientObject.request = request  # type: ignore[method-assign]


class _RecordsToFile(logging.Handler):
    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self._path = path
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot format is nobody's leak
            return
        with self._path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


# -- pytest hooks -------------------------------------------------------------------------------------
_STATE: dict[str, Any] = {}


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin has set up the base temporary directory
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # pragma: no cover - xdist workers report to the controller
        return
    basetemp = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    folder = basetemp / "leak-guard"
    folder.mkdir(parents=True, exist_ok=True)
    handler = _RecordsToFile(folder / "records.log")
    root = logging.getLogger()
    _STATE.update(basetemp=basetemp, handler=handler, level=root.level)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    _watch_secret_writes()
    _record_kube_bodies(folder / "kube.log")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "basetemp" not in _STATE:
        return
    handler = _STATE.pop("handler")
    logging.getLogger().removeHandler(handler)
    collected = [item.module for item in session.items if getattr(item, "module", None) is not None]
    for value, kind in constants_of_test_modules(collected):
        _GUARD.register(value, kind)
    basetemp: Path = _STATE["basetemp"]
    findings = _GUARD.scan(log_files(basetemp))
    _STATE["findings"] = findings
    if not findings:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"secret-leak guard: {len(findings)} leak(s) of test secrets (values not shown):"]
    lines += [f"  {path.relative_to(basetemp)}: {kind}" for path, kind in findings]
    if reporter is not None:
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line, red=True)
    else:  # pragma: no cover
        print("\n".join(lines), file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
