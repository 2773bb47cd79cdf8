"""A participant's WebSocket as the hub sees it: non-blocking sends through a bounded outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json

import structlog
from aiohttp import web
from pydantic_core import PydanticSerializationError

from . import protocol as p

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 512


class Connection:
    """Owns one writer task. `send()` never blocks the room: a client that stops reading
    until its outbox is full is disconnected."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.identity: str | None = None
        self._outbox: asyncio.Queue[p.ServerMessage | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer = asyncio.ensure_future(self._write())
        self._closing = False

    def send(self, message: p.ServerMessage) -> None:
        if self._closing:
            return
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("connection_too_slow", participant=self.identity)
            self.close(p.CloseCode.SLOW, "too slow")

    def close(self, code: int, reason: str) -> None:
        """Flush what is queued, then close the socket with `code`."""
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._close_reason = reason
        if self._outbox.full():  # a client this far behind loses its last updates
            self._outbox.get_nowait()
        self._outbox.put_nowait(None)

    @property
    def closing(self) -> bool:
        return self._closing

    async def _write(self) -> None:
        try:
            while True:
                message = await self._outbox.get()
                if message is None:
                    await self.ws.close(
                        code=self._close_code, message=self._close_reason.encode()[:120]
                    )
                    return
                await self.ws.send_str(encode(message))
        except (ConnectionError, RuntimeError):
            return

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Let the writer flush a requested close (bounded), else cancel it; then await it."""
        if not self._closing:
            self._closing = True
            self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(self._writer, flush_timeout)


def encode(message: p.ServerMessage) -> str:
    """The message as JSON text; never fails on text that UTF-8 cannot carry (a lone
    surrogate is sent escaped, as `ensure_ascii` does)."""
    try:
        return message.model_dump_json()
    except PydanticSerializationError:
        return json.dumps(message.model_dump(mode="json"), ensure_ascii=True)
