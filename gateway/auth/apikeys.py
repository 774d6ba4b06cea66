"""API keys from a mounted Secret file (and inline), reloaded when the file changes.

Parsing accepts a YAML/JSON map key-id -> key or `id:key` lines; lookup is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from pathlib import Path

import yaml

from xtrinode.secret_files import ReloadingFile

from .principal import AuthSetupError

__all__ = ["ApiKeyStore", "parse_api_keys"]

log = logging.getLogger("gateway.auth.apikeys")

def parse_api_keys(text: str) -> dict[str, str]:
    """Key-id -> key from a YAML/JSON map or from `id:key` lines; raises ValueError on neither.

    Error messages name line numbers and key ids, never a key.
    """
    try:
        loaded = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar stays a string
    except yaml.YAMLError:
        loaded = None
    if isinstance(loaded, dict):
        keys: dict[str, str] = {}
        for key_id, key in loaded.items():
            if not isinstance(key_id, str) or not isinstance(key, str):
                raise ValueError(f"entry {key_id!r} is not a plain `id: key` string pair")
            keys[key_id.strip()] = key.strip()
    else:
        keys = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key_id, sep, key = line.partition(":")
            if not sep:
                raise ValueError(f"line {number} is not `id:key`; write one `id:key` per line")
            keys[key_id.strip()] = key.strip()
    for key_id, key in keys.items():
        if not key_id or not key:
            raise ValueError(f"key id {key_id!r} has an empty id or key; give both")
    return keys


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class ApiKeyStore:
    """The current keys; `lookup` compares against every key so timing reveals nothing."""

    def __init__(
        self, file: str | None, inline: Mapping[str, str], reload_interval: float
    ) -> None:
        self._inline = dict(inline)
        self._digests: list[tuple[str, bytes]] = []
        self._file: ReloadingFile[dict[str, str]] | None = None
        if file:
            self._file = ReloadingFile(Path(file), parse_api_keys, self._install, {}, reload_interval, "API key", log)
        self._install({})

    @property
    def reloads(self) -> int:
        """How many times the file was (re)loaded successfully."""
        return self._file.reloads if self._file is not None else 0

    @property
    def key_ids(self) -> list[str]:
        return [key_id for key_id, _ in self._digests]

    def _install(self, from_file: Mapping[str, str]) -> None:
        merged = {**from_file, **self._inline}
        self._digests = [(key_id, _digest(key)) for key_id, key in merged.items()]
        if self._file is not None and self._file.reloads:
            log.info("API keys: %d from %s, %d inline", len(from_file), self._file.path, len(self._inline))

    async def start(self) -> None:
        """Load the file (raising AuthSetupError when it cannot be read) and watch it."""
        if self._file is None:
            return
        try:
            await self._file.start()
        except (OSError, ValueError) as e:
            raise AuthSetupError(
                f"cannot load API keys from {str(self._file.path)!r}: {e}; "
                "check that the Secret is mounted there"
            ) from e

    async def close(self) -> None:
        if self._file is not None:
            await self._file.close()

    async def check_reload(self) -> bool:
        """Reload when the file changed (see ReloadingFile); True when the keys changed."""
        return await self._file.check_reload() if self._file is not None else False

    def lookup(self, presented: str) -> str | None:
        """The id of the key equal to `presented`, or None; constant-time in the key contents."""
        candidate = _digest(presented)
        found: str | None = None
        for key_id, digest in self._digests:
            if hmac.compare_digest(candidate, digest) and found is None:
                found = key_id
        return found
