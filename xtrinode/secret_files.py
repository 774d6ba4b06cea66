"""A credential file mounted from a Secret, parsed and watched: `ReloadingFile`.

Kubernetes swaps a Secret volume's `..data` symlink on update, so the file is checked by stat
(mtime, size, inode) every interval. A changed file is parsed again; one that no longer parses keeps
the last good content (an ERROR line says so); one that is gone revokes everything it held. Used by the
gateway's API keys and the API server's tokens. Messages never echo file contents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["ReloadingFile"]

T = TypeVar("T")
_Stamp = tuple[int, int, int]


def _stat(path: Path) -> _Stamp:
    st = os.stat(path)  # follows the ..data symlink
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path: Path) -> tuple[_Stamp, str]:
    stamp = _stat(path)
    return stamp, path.read_text(encoding="utf-8")


class ReloadingFile(Generic[T]):
    """`start()` loads `path` (raising OSError/ValueError when it cannot) and watches it; `install` gets
    the parsed content, or `empty` when the file is gone."""

    def __init__(self, path: Path, parse: Callable[[str], T], install: Callable[[T], None], empty: T,
                 interval: float, what: str, log: logging.Logger) -> None:
        self.path = path
        self._parse = parse
        self._install = install
        self._empty = empty
        self._interval = interval
        self._what = what
        self._log = log
        self._stamp: _Stamp | None = None
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        """How many times the file was (re)loaded successfully."""

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._watch(), name=f"reload {self._what}")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _load(self) -> None:
        stamp, text = await asyncio.to_thread(_read, self.path)
        content = self._parse(text)
        self._install(content)
        self._stamp = stamp
        self.reloads += 1

    async def check_reload(self) -> bool:
        """Reload when the file changed since the last load; True when what it holds changed."""
        try:
            stamp = await asyncio.to_thread(_stat, self.path)
        except FileNotFoundError:
            if self._stamp is None:
                return False
            self._install(self._empty)
            self._stamp = None
            self._log.warning("%s file %s is gone: everything it held is revoked", self._what, self.path)
            return True
        except OSError as e:
            self._log.error("%s file %s cannot be read, keeping the last good content: %s", self._what, self.path, e)
            return False
        if stamp == self._stamp:
            return False
        try:
            await self._load()
            return True
        except FileNotFoundError:
            return await self.check_reload()
        except (OSError, ValueError) as e:
            self._log.error("%s file %s not reloaded, keeping the last good keys: %s", self._what, self.path, e)
            return False

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_reload()
