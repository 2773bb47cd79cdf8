"""The node a gate runs against: one started in this process, or one at a URL."""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from media.ids import Role
from media.peer import pin_host_addresses
from signalling.app import create_app
from signalling.settings import Settings
from signalling.tokens import mint

__all__ = ["GateNode", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class GateNode:
    """Where the clients connect and how their tokens are signed.

    `GateNode.local()` starts a node in this process with ICE pinned to `ice_addresses`
    (loopback by default); `GateNode.remote(url, secret)` uses a running node.
    """

    def __init__(self, url: str, secret: str, runner: web.AppRunner | None = None,
                 data_dir: tempfile.TemporaryDirectory[str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self._runner = runner
        self._data_dir = data_dir
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reported: set[asyncio.Task[Any]] = set()

    @property
    def local_app(self) -> web.Application | None:
        return None if self._runner is None else self._runner.app

    @classmethod
    async def local(cls, ice_addresses: tuple[str, ...] = ("127.0.0.1",),
                    also_on: str | None = None) -> GateNode:
        """`also_on`: an address to listen on besides loopback (a real link cut's veth)."""
        data_dir = tempfile.TemporaryDirectory(prefix="liveroom-gate-")
        secret = secrets.token_urlsafe(32)
        port = free_port()
        values: dict[str, Any] = dict(  # the rest from LIVEROOM_* variables and defaults
            host="127.0.0.1", port=port, data_dir=Path(data_dir.name), token_secret=secret,
            api_key=secrets.token_urlsafe(16), ice_host_addresses=list(ice_addresses),
        )
        settings = Settings(**values)
        runner = web.AppRunner(create_app(settings), handle_signals=False)
        before = asyncio.all_tasks()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        if also_on is not None:
            await web.TCPSite(runner, also_on, port).start()
        node = cls(f"http://127.0.0.1:{port}", secret, runner, data_dir)
        node._tasks = asyncio.all_tasks() - before  # the node's background tasks (its ticker)
        return node

    def failures(self) -> list[str]:
        """Background tasks of the in-process node that died since the last call."""
        found = []
        for task in self._tasks - self._reported:
            if task.done() and not task.cancelled() and task.exception() is not None:
                self._reported.add(task)
                exc = task.exception()
                found.append(f"{task.get_coro().__qualname__} died: "  # type: ignore[union-attr]
                             f"{type(exc).__name__}: {exc}")
        return found

    @classmethod
    def remote(cls, url: str, secret: str, ice_addresses: tuple[str, ...] = ()) -> GateNode:
        # the clients run in this process: their host candidates follow the same pin
        pin_host_addresses(ice_addresses)
        return cls(url, secret)

    def url_at(self, address: str) -> str:
        """This node's URL at another of its addresses (`local(also_on=...)`)."""
        port = self.url.rpartition(":")[2]
        return f"http://{address}:{port}"

    def token(self, room: str, identity: str, role: Role) -> str:
        return mint(self.secret, room=room, identity=identity, role=role, ttl_s=3600)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._data_dir is not None:
            self._data_dir.cleanup()
            self._data_dir = None
