"""API keys from a mounted Secret file (and inline), reloaded when the file changes.

Parsing accepts a YAML/JSON map key-id -> key or `id:key` lines; lookup is constant-time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from .principal import AuthSetupError

__all__ = ["ApiKeyStore", "parse_api_keys"]

log = logging.getLogger("gateway.auth.apikeys")

_FileStamp = tuple[int, int, int]


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
        self._path = Path(file) if file else None
        self._inline = dict(inline)
        self._reload_interval = reload_interval
        self._stamp: _FileStamp | None = None
        self._digests: list[tuple[str, bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        """How many times the file was (re)loaded successfully."""
        self._install({})

    @property
    def key_ids(self) -> list[str]:
        return [key_id for key_id, _ in self._digests]

    def _install(self, from_file: Mapping[str, str]) -> None:
        merged = {**from_file, **self._inline}
        self._digests = [(key_id, _digest(key)) for key_id, key in merged.items()]

    async def start(self) -> None:
        """Load the file (raising AuthSetupError when it cannot be read) and watch it."""
        if self._path is None:
            return
        try:
            await self._load()
        except (OSError, ValueError) as e:
            raise AuthSetupError(
                f"cannot load API keys from {str(self._path)!r}: {_describe(e)}; "
                "check that the Secret is mounted there"
            ) from e
        self._task = asyncio.create_task(self._watch(), name="gateway-auth-apikey-reload")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def lookup(self, presented: str) -> str | None:
        """The id of the key equal to `presented`, or None; constant-time in the key contents."""
        candidate = _digest(presented)
        found: str | None = None
        for key_id, digest in self._digests:
            if hmac.compare_digest(candidate, digest) and found is None:
                found = key_id
        return found

    async def _load(self) -> None:
        assert self._path is not None
        stamp, text = await asyncio.to_thread(_read, self._path)
        keys = parse_api_keys(text)
        self._install(keys)
        self._stamp = stamp
        self.reloads += 1
        if keys:
            log.info("loaded %d API key(s) from %s", len(keys), self._path)
        else:
            log.warning("API key file %s holds no keys: only inline keys are accepted", self._path)

    async def check_reload(self) -> bool:
        """Reload when the file changed since the last load; True when the keys changed.

        A file that is gone revokes every key from it (inline keys stay); a file that no longer
        parses keeps the last good keys (an ERROR log says so).
        """
        assert self._path is not None
        try:
            stamp = await asyncio.to_thread(_stat, self._path)
        except FileNotFoundError:
            if self._stamp is None:
                return False
            self._install({})
            self._stamp = None
            log.warning("API key file %s is gone: every key from it is revoked", self._path)
            return True
        except OSError as e:
            log.error("API key file %s cannot be read, keeping the last good keys: %s", self._path, _describe(e))
            return False
        if stamp == self._stamp:
            return False
        try:
            await self._load()
            return True
        except FileNotFoundError:
            return await self.check_reload()
        except (OSError, ValueError) as e:
            log.error(
                "API key file %s not reloaded, keeping the last good keys: %s",
                self._path,
                _describe(e),
            )
            return False

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._reload_interval)
            await self.check_reload()


def _describe(error: Exception) -> str:
    """What went wrong without echoing file contents (OSError carries no contents)."""
    return str(error) if isinstance(error, (OSError, ValueError)) else type(error).__name__


def _stat(path: Path) -> _FileStamp:
    st = os.stat(path)  # follows the ..data symlink Kubernetes swaps on Secret updates
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path: Path) -> tuple[_FileStamp, str]:
    stamp = _stat(path)
    return stamp, path.read_text(encoding="utf-8")
