"""The test OpenID provider of `tests/idp.py`, served from a thread with its own event loop: for
servers that fetch keys with a blocking client on the test's loop (the Trino emulator in-process),
which would otherwise wait on a loop they block.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.idp import IdP, serve_idp

__all__ = ["idp_in_a_thread", "new_key"]


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def idp_in_a_thread(provider: IdP) -> Iterator[IdP]:
    """Serve `provider` (tests/idp.py) on loopback from a thread until the block ends."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = loop.create_future()

    async def main() -> None:
        async with serve_idp(provider):
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="test-idp", daemon=True)
    thread.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the test IdP did not start within 10s")
        yield provider
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(10)
        loop.close()
