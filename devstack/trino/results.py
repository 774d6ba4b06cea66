"""A query's result rows between the engine and the pages: fetched ahead in chunks, handed out by size.

The producer drains the row source in the node's thread pool, `batch_rows` rows at a time, and keeps
each batch as ready JSON text; it stops while `ahead_bytes` are buffered (a client that does not
read does not make the emulator read the whole table). A page takes batches until it holds the
client's `targetResultSize` (Trino's default 1 MB: about 7,000 rows of `lineitem`), or exactly
`page_rows` rows when that knob is set. A page waits (within the long poll) until that much is buffered.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .rows import RowSource
from .errors import QueryFailure, failure_from_exception

__all__ = ["Batch", "ResultBuffer"]


@dataclass(frozen=True, slots=True)
class Batch:
    rows: int
    json: str
    """The rows as JSON list items without the enclosing brackets: `[1,"a"],[2,"b"]`."""


class ResultBuffer:
    """Rows fetched ahead of the client; `take` builds one page's worth."""

    def __init__(self, source: RowSource, executor: ThreadPoolExecutor, on_change: Callable[[], None],
                 batch_rows: int, ahead_bytes: int) -> None:
        self._source = source
        self._executor = executor
        self._on_change = on_change
        self._batch_rows = batch_rows
        self._ahead_bytes = ahead_bytes
        self._batches: deque[Batch] = deque()
        self._buffered_bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self.exhausted = False
        self.failure: QueryFailure | None = None
        self.produced_rows = 0
        self.produced_bytes = 0
        self.task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self.task = asyncio.create_task(self._produce(), name="trino-result-producer")

    @property
    def empty(self) -> bool:
        return not self._batches

    def has_page(self, target_bytes: int, max_rows: int | None) -> bool:
        """A full page is buffered: `target_bytes` of rows, or `max_rows` rows."""
        if max_rows is not None:
            return sum(batch.rows for batch in self._batches) >= max_rows
        return self._buffered_bytes >= target_bytes

    @property
    def drained(self) -> bool:
        """Every row was produced and handed out."""
        return self.exhausted and not self._batches

    def _fetch(self) -> Batch | None:
        rows = self._source.fetch(self._batch_rows)
        if not rows:
            return None
        text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)[1:-1]
        return Batch(len(rows), text)

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._room.wait()
                if self._closing:
                    break
                batch = await loop.run_in_executor(self._executor, self._fetch)
                if batch is None:
                    break
                self._batches.append(batch)
                self._buffered_bytes += len(batch.json)
                self.produced_rows += batch.rows
                self.produced_bytes += len(batch.json)
                if batch.rows < self._batch_rows:
                    break  # a short batch is the last one: the query is FINISHING while the client reads it
                if self._buffered_bytes >= self._ahead_bytes:
                    self._room.clear()
                self._on_change()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a failing fetch fails the query, never the server
            self.failure = failure_from_exception(error)
        finally:
            self.exhausted = True
            self._source.close()
            self._on_change()

    def take(self, target_bytes: int, max_rows: int | None) -> tuple[int, str | None]:
        """(rows, JSON array text) for one page, or (0, None) when nothing is buffered."""
        parts: list[str] = []
        rows = size = 0
        while self._batches:
            batch = self._batches[0]
            if parts and max_rows is not None and rows + batch.rows > max_rows:
                break
            self._batches.popleft()
            self._buffered_bytes -= len(batch.json)
            parts.append(batch.json)
            rows += batch.rows
            size += len(batch.json)
            if size >= target_bytes or (max_rows is not None and rows >= max_rows):
                break
        if self._buffered_bytes < self._ahead_bytes:
            self._room.set()
        return (rows, "[" + ",".join(parts) + "]") if parts else (0, None)

    def interrupt(self) -> None:
        self._source.interrupt()

    async def close(self) -> None:
        """Stop producing: interrupt a running fetch and wait for its thread (a DuckDB cursor must not be
        closed while another thread reads from it)."""
        if self.task is None or self.task.done():
            return
        self._closing = True
        self._source.interrupt()
        self._room.set()
        done, _ = await asyncio.wait({self.task}, timeout=10)
        if not done:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
