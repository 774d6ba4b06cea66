"""The `xtrinode` command: render and validate manifests (more commands join as processes land).

Each sub-command imports what it needs lazily so `xtrinode --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any


__all__ = ["main", "build_parser"]


def _render(args: argparse.Namespace) -> int:
    from xtrinode.loading import load_manifests
    from xtrinode.render import RenderError, RenderSettings, manifests_to_yaml, render_runtime, select_catalogs

    manifests = load_manifests(args.file, default_namespace=args.namespace)
    if not manifests.runtimes:
        print("error: no XTrinode object in the given files; pass the runtime with -f", file=sys.stderr)
        return 2
    settings = RenderSettings()
    out: list[dict[str, Any]] = []
    for runtime in manifests.runtimes:
        same_ns = [c for c in manifests.catalogs if c.namespace == runtime.namespace]
        try:
            out.extend(render_runtime(runtime, select_catalogs(runtime, same_ns), settings))
        except RenderError as e:
            message = " ".join(str(e).split())  # one line, whatever the message holds
            print(f"error: XTrinode {runtime.namespace}/{runtime.name} cannot be rendered: {message}", file=sys.stderr)
            return 1
    sys.stdout.write(manifests_to_yaml(out))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from xtrinode.admission import AdmissionRequest, UserInfo, evaluate
    from xtrinode.loading import load_documents

    failed = 0
    user = UserInfo(username=args.user, groups=[])
    for doc in load_documents(args.file):
        kind = doc.body.get("kind")
        if kind not in ("XTrinode", "XTrinodeCatalog"):
            continue
        meta = doc.body.get("metadata") or {}
        name = meta.get("name", "?")
        request = AdmissionRequest(
            operation="CREATE",
            kind=kind,
            namespace=meta.get("namespace", args.namespace),
            name=str(name),
            object=doc.body,
            old_object=None,
            user=user,
        )
        result = evaluate(request)
        label = f"{kind}/{name} ({doc.where})"
        if result.allowed:
            print(f"ok       {label}")
        else:
            failed += 1
            print(f"rejected {label}")
            for reason in result.reasons:
                print(f"  - {reason}")
        for warning in result.warnings:
            print(f"  warning: {warning}")
        if result.gate_required:
            print("  note: valuesOverlay needs permission `update xtrinodes/valuesoverlay` when applied")
    return 1 if failed else 0


_PROCESSES = {
    "worker": ("workers.lifecycle", "run the lifecycle worker (Temporal workflows and activities)"),
    "operator": ("workers.operator", "run the operator (watches XTrinodes, forwards to workflows)"),
    "webhook": ("workers.webhook", "run the validating admission webhook (HTTPS, --cert/--key)"),
    "gateway": ("gateway.cli", "run the Trino gateway (--config FILE)"),
    "api-server": ("workers.apiserver", "run the API server (--config FILE): list, status, resume, suspend"),
    "runtime": ("workers.runtimectl", "list, status, resume, suspend, events of runtimes (through the API server)"),
    # The devstack is a separate top-level package; the CLI finds it by name (no import of it here).
    "dev": ("devstack.cli", "the devstack on one machine: dev up | dev status | dev down"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtrinode", description="XTrinode: a Temporal-orchestrated control plane for Trino runtimes."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser("render", help="print the Kubernetes manifests of runtimes (a dry run to diff)")
    render.add_argument("-f", "--file", action="append", required=True, help="YAML/JSON file, repeatable; - for stdin")
    render.add_argument("-n", "--namespace", default="default", help="namespace for objects without one")
    render.set_defaults(func=_render)

    validate = sub.add_parser("validate", help="run the admission rules on XTrinode and XTrinodeCatalog files")
    validate.add_argument("-f", "--file", action="append", required=True, help="YAML/JSON file, repeatable")
    validate.add_argument("-n", "--namespace", default="default", help="namespace for objects without one")
    validate.add_argument("--user", default="cli", help="user name the rules see (default: cli)")
    validate.set_defaults(func=_validate)

    for command, (_module, help_text) in _PROCESSES.items():
        sub.add_parser(command, help=help_text, add_help=False)  # listed in --help; main() delegates
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from xtrinode.loading import LoadError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _PROCESSES:
        # Whole processes parse their own flags (`xtrinode worker --help`).
        import importlib

        entry: Callable[[list[str]], int] = importlib.import_module(_PROCESSES[argv[0]][0]).main
        return entry(argv[1:])
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except LoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
