"""The API server (SPEC 5, issue #15): HTTP endpoints to list, read, resume and suspend runtimes, for
people (`xtrinode runtime ...`) and automation; a thin client of the lifecycle workflows.
"""

from __future__ import annotations

from .app import create_app
from .settings import ApiServerSettings

__all__ = ["ApiServerSettings", "create_app"]
