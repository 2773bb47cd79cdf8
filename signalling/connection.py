"""A participant's WebSocket as the hub sees it: non-blocking sends through a bounded outbox."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import structlog
from aiohttp import web

from . import protocol as p

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 512
CLOSE_TIMEOUT_S = 1.0
"""A close handshake the peer has not answered in this long is cut (transport aborted)."""


class Connection:
    """Owns one writer task. `send()` never blocks the room: a client that stops reading
    until its outbox is full is disconnected."""

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport | None = None
    ) -> None:
        self.ws = ws
        self._transport = transport  # aborted when the peer does not answer a close
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
            self.close(4010, "too slow", flush=False)

    def close(self, code: int, reason: str, flush: bool = True) -> None:
        """Flush what is queued (unless `flush` is false), then close the socket with
        `code`; a peer that does not answer the close within CLOSE_TIMEOUT_S is cut off."""
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._close_reason = reason
        if not flush:  # the writer waits on a peer that does not read: drop the queue
            self._writer.cancel()
            self._writer = asyncio.ensure_future(self._close_socket())
            return
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
                    await self._close_socket()
                    return
                await self.ws.send_str(message.model_dump_json())
        except (ConnectionError, RuntimeError):
            return

    async def _close_socket(self) -> None:
        """Send the close frame and wait for the peer's, bounded: aiohttp would wait 10 s
        for a reply, and its transport close waits for a full send buffer to drain, which
        never happens if the peer does not read (or its link is gone)."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.ws.close(
                    code=self._close_code, message=self._close_reason.encode()[:120]
                )
            return
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        if self._transport is not None:
            # a plain close leaves the kernel retrying the unread data and the FIN behind
            # it for minutes (the peer's window is shut): reset the connection instead
            sock = self._transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._transport.abort()
        log.info("connection_cut", participant=self.identity, code=self._close_code)

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Let the writer flush a requested close (bounded), else cancel it; then await it."""
        if not self._closing:
            self._closing = True
            self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(self._writer, flush_timeout)
