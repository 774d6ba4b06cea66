"""A Trino protocol emulator: one coordinator or worker speaking Trino's HTTP APIs on loopback.

Run `python -m devstack.trino`, or in-process `async with TrinoNode(settings) as node`.
See README.md in this package for what is emulated and how it differs from Trino.
"""

from .app import create_app
from .auth import hash_password
from .config import ConfigError, load_settings
from .node import TrinoNode, serve
from .settings import AccessControl, CatalogConfig, NodeSettings, PasswordAuth, SystemInformationRule

__all__ = [
    "AccessControl",
    "CatalogConfig",
    "ConfigError",
    "NodeSettings",
    "PasswordAuth",
    "SystemInformationRule",
    "TrinoNode",
    "create_app",
    "hash_password",
    "load_settings",
    "serve",
]
