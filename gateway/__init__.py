"""The XTrinode gateway: a Trino-aware aiohttp proxy with routing, sticky queries, health and transparent resume.

`create_app(settings)` builds the application; `run_gateway(argv)` is the `xtrinode gateway` command.
"""

from gateway.app import create_app
from gateway.cli import run_gateway
from gateway.settings import GatewayConfigError, GatewaySettings, load_settings

__all__ = ["GatewayConfigError", "GatewaySettings", "create_app", "load_settings", "run_gateway"]
