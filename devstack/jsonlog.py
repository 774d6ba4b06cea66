"""`python -m devstack.jsonlog MODULE [ARGS...]`: `python -m MODULE` with JSON-lines logging.

The root logger gets the JSON handler first, so the component's own `logging.basicConfig` keeps it.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "main"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("password", "token", "secret", "api_key", "authorization")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra=` fields (namespace, name, workflow_id, ...) are kept."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS):
                value = "<hidden>"
            body[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body)


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
