"""`xtrinode dev up|status|down`: run the devstack in the foreground, look at it, stop it.

`up` is the supervisor in `up.py`; `status` and `down` read `<state-dir>/devstack.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devstack.kubeclient import KubeClient
from devstack.state import DEFAULT_STATE_DIR, StateDir, pid_alive
from xtrinode.durations import parse_duration

__all__ = ["main", "build_parser"]


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {value!r} is out of range; give 1-65535, or 0 for a free port")
    return port


def _duration(value: str) -> Any:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtrinode dev", description="The devstack: the whole product on one machine.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start everything in the foreground; Ctrl-C stops it all")
    status = sub.add_parser("status", help="components (pid alive?, URL) and runtime phases")
    down = sub.add_parser("down", help="stop a running devstack")
    traces = sub.add_parser("traces", help="resume traces as indented timelines (span, duration, attributes)")
    for p in (up, status, down, traces):
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help="logs, Temporal db, cluster state, kubeconfig (default %(default)s)")
    up.add_argument("--gateway-port", type=_port, default=8080, help="Trino gateway port (default 8080; 0 = free)")
    up.add_argument("--api-port", type=_port, default=8081, help="API server port (default 8081; 0 = free)")
    up.add_argument("--temporal-port", type=_port, default=7233, help="Temporal frontend (default 7233; 0 = free)")
    up.add_argument("--temporal-ui-port", type=_port, default=8233, help="Temporal UI (default 8233; 0 = free)")
    up.add_argument("--kube-port", type=_port, default=6443,
                    help="Kubernetes API (emulator or kube-apiserver; default 6443; 0 = free)")
    up.add_argument("--kube", choices=("emulator", "real"), default="emulator",
                    help="emulator (default): the built-in Kubernetes API emulator; real: etcd, kube-apiserver, "
                         "kube-controller-manager and kube-scheduler (built once by scripts/fetch-kubernetes.sh, "
                         "~13 minutes), with the kubelet as a node agent")
    up.add_argument("--kube-bin", type=Path,
                    help="with --kube real: directory with etcd, kube-apiserver, kube-controller-manager and "
                         "kube-scheduler (default: what scripts/fetch-kubernetes.sh prints)")
    up.add_argument("--no-examples", dest="examples", action="store_false",
                    help="do not create the demo catalog and runtime in namespace analytics")
    up.add_argument("--auto-suspend-after", type=_duration, default=parse_duration("3m"),
                    help="idle time before the demo runtime autosuspends, when it is created (default 3m)")
    up.add_argument("--in-process-nodes", action="store_true",
                    help="run every pod's emulated Trino inside the kubelet process instead of one process per pod "
                         "(for many runtimes on a small machine)")
    up.add_argument("--trino-home", type=Path,
                    help="run real Trino from this unpacked trino-server (scripts/fetch-trino.sh prints one) "
                         "instead of the emulator; needs Java 24+ (--java-home or $JAVA_HOME)")
    up.add_argument("--java-home", type=Path, help="JDK for --trino-home (default $JAVA_HOME)")
    up.add_argument("--traces", action="store_true",
                    help="also run Jaeger all-in-one (built once by scripts/fetch-jaeger.sh) and send every process's "
                         "spans to it over OTLP; spans always go to <state-dir>/traces/ too")
    traces.add_argument("--runtime", metavar="NS/NAME", help="only resumes of this runtime")
    traces.add_argument("--last", action="store_true", help="only the most recent resume")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    down.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the stop (default 90)")
    return parser


def _up(args: argparse.Namespace) -> int:
    from devstack.up import Supervisor, UpSettings

    settings = UpSettings(
        state_dir=args.state_dir, gateway_port=args.gateway_port, api_port=args.api_port, temporal_port=args.temporal_port,
        temporal_ui_port=args.temporal_ui_port, kube_port=args.kube_port, kube=args.kube, kube_bin=args.kube_bin,
        examples=args.examples,
        auto_suspend_after=args.auto_suspend_after, in_process_nodes=args.in_process_nodes,
        trino_home=args.trino_home, java_home=args.java_home, traces=args.traces)
    return Supervisor(settings).run()


def _traces(args: argparse.Namespace) -> int:
    from devstack.traces import format_timeline, resume_traces
    from xtrinode.tracefile import read_spans

    state = StateDir(args.state_dir)
    found = resume_traces(read_spans(state.traces), args.runtime)
    if not found:
        which = f" of {args.runtime}" if args.runtime else ""
        print(f"no resume traces{which} in {state.traces}; resume a runtime (query a suspended one through the "
              "gateway, or `xtrinode runtime resume`) with the devstack running")
        return 1
    print("\n\n".join(format_timeline(spans) for spans in (found[-1:] if args.last else found)))
    return 0


def _status(args: argparse.Namespace) -> int:
    state = StateDir(args.state_dir)
    info = state.read_info()
    if info is None or not pid_alive(info.supervisor_pid):
        if args.json:
            print(json.dumps({"running": False, "state_dir": str(state.root)}))
        else:
            print(f"no devstack runs from {state.root}; start one with `xtrinode dev up --state-dir {args.state_dir}`")
        return 1
    try:
        runtimes = KubeClient.from_kubeconfig(info.kubeconfig, timeout=5).runtimes()
    except OSError as e:
        runtimes = []
        print(f"warning: cannot read runtimes from {info.kube_url}: {e}", file=sys.stderr)
    components = {name: {"pid": c.pid, "alive": pid_alive(c.pid), "url": c.url, "log": c.log}
                  for name, c in info.components.items()}
    if args.json:
        print(json.dumps({
            "running": True, "ready": info.ready, "state_dir": str(state.root), "supervisor_pid": info.supervisor_pid,
            "gateway_url": info.gateway_url, "gateway_internal_url": info.gateway_internal_url,
            "api_url": info.api_url, "api_token_file": info.api_token_file, "temporal_address": info.temporal_address,
            "temporal_ui_url": info.temporal_ui_url, "kube_url": info.kube_url, "kubeconfig": info.kubeconfig,
            "kube": info.kube_backend,
            "components": components, "runtimes": runtimes, "pod_pids": info.pod_pids,
        }, indent=2))
        return 0
    print(f"devstack in {state.root} (supervisor pid {info.supervisor_pid}, {'ready' if info.ready else 'starting'}, "
          f"kube {info.kube_backend})")
    for name, c in components.items():
        print(f"  {name:<9} pid {c['pid']:<8} {'running' if c['alive'] else 'DEAD':<8} {c['url'] or ''}")
    print(f"  Temporal UI: {info.temporal_ui_url}")
    print(f"  export KUBECONFIG={info.kubeconfig}")
    print("runtimes:" if runtimes else "runtimes: none")
    for rt in runtimes:
        suffix = " (spec.suspended)" if rt["suspended"] else ""
        print(f"  {rt['namespace']}/{rt['name']}: {rt['phase']}{suffix}")
    return 0


def _down(args: argparse.Namespace) -> int:
    state = StateDir(args.state_dir)
    pid = state.running_supervisor()
    if pid is None:
        print(f"no devstack runs from {state.root}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            print(f"the devstack (pid {pid}) did not stop within {args.timeout:.0f}s; "
                  f"see {state.logs}/ and stop it with `kill {pid}`", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"devstack in {state.root} stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    handlers = {"up": _up, "status": _status, "down": _down, "traces": _traces}
    return handlers[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
