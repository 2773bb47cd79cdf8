"""A real node on an event loop of its own (a thread), so a test can starve it alone.

The test's clients keep running on the test's loop while something planted on the node's
loop blocks it (`time.sleep` releases the GIL, so only the node stops).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestServer

from signalling.app import create_app
from signalling.keys import NODE
from signalling.node import Node
from tests.conftest import RunningNode, node_settings

T = TypeVar("T")


class NodeOnItsOwnLoop:
    def __init__(self, tmp_path: Path, **overrides: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.settings = node_settings(tmp_path, **overrides)
        self.server: TestServer | None = None

    def start(self) -> RunningNode:
        self.thread.start()

        async def up() -> TestServer:
            server = TestServer(create_app(self.settings), host="127.0.0.1",
                                port=self.settings.port)
            await server.start_server()
            return server

        self.server = self.call(up(), timeout=30)
        return RunningNode(self.server)

    @property
    def node(self) -> Node:
        assert self.server is not None
        return self.server.app[NODE]

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run a coroutine on the node's loop and wait for it (from the test's thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def on_node(self, fn: Callable[[], T], timeout: float = 10) -> T:
        """Run `fn` on the node's loop; the test's loop keeps running meanwhile."""
        async def run() -> T:
            return fn()

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def block(self, seconds: float) -> None:
        """Plant a blocking call on the node's loop: it runs nothing else meanwhile."""
        self.loop.call_soon_threadsafe(time.sleep, seconds)

    def block_before_tick(self, seconds: float) -> None:
        """Plant the blocking call in the same batch as the node's next tick timer, just
        after it: the tick's task then runs first once the loop is free, before the
        sockets are read (the worst case for stall detection, made deterministic)."""
        def plant() -> None:
            ticker = self.node._ticker
            waiter = getattr(ticker, "_fut_waiter", None)
            for handle in self.loop._scheduled:  # type: ignore[attr-defined]
                if handle._args and handle._args[0] is waiter:
                    self.loop.call_at(handle.when(), time.sleep, seconds)
                    return
            raise AssertionError("the node's tick timer was not found")

        asyncio.run_coroutine_threadsafe(_call(plant), self.loop).result(5)

    def stop(self) -> None:
        if self.server is not None:
            self.call(self.server.close(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


async def _call(fn: Callable[[], None]) -> None:
    fn()
