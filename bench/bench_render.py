"""Render throughput: time to render a runtime with catalogs, as a ratio to a baseline in the same
process (a JSON round trip of the same manifests, the floor any renderer pays to emit them).

Run: .venv/bin/python bench/bench_render.py [--runtimes 200]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from xtrinode.loading import load_manifests
from xtrinode.render import render_runtime, select_catalogs

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtimes", type=int, default=200)
    args = parser.parse_args()
    manifests = load_manifests([EXAMPLES / "postgres-catalog.yaml"])
    runtime = manifests.runtimes[0]
    catalogs = select_catalogs(runtime, manifests.catalogs)
    output = render_runtime(runtime, catalogs)

    start = time.perf_counter()
    for _ in range(args.runtimes):
        render_runtime(runtime, catalogs)
    render_s = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(args.runtimes):
        json.loads(json.dumps(output))
    baseline_s = time.perf_counter() - start

    print(f"render: {args.runtimes} runtimes, {len(output)} manifests each")
    print(f"  render        {render_s * 1000 / args.runtimes:8.3f} ms/runtime")
    print(f"  json baseline {baseline_s * 1000 / args.runtimes:8.3f} ms/runtime")
    print(f"  ratio render/baseline = {render_s / baseline_s:.1f}x")


if __name__ == "__main__":
    main()
