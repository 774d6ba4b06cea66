"""`python -m devstack.jsonlog MODULE [ARGS...]`: `python -m MODULE` with JSON-lines logging.

The root logger gets the product's JSON handler (xtrinode/logs.py) first, so a component whose own
`logging.basicConfig` adds none keeps it.
"""

from __future__ import annotations

import logging
import runpy
import sys

from xtrinode.logs import JsonFormatter

__all__ = ["JsonFormatter", "main"]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m devstack.jsonlog MODULE [ARGS...]", file=sys.stderr)
        return 2
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    module, rest = args[0], args[1:]
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
