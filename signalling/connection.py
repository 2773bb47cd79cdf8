"""A participant's WebSocket as the hub sees it: non-blocking sends through a bounded outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json

import structlog
from aiohttp import WSMessage, web
from pydantic_core import PydanticSerializationError

from . import protocol as p

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 512
FLUSH_TIMEOUT_S = 2.0  # a closing socket's queued messages get this long to go out
# aiohttp waits this long for the client's close reply before it drops the connection.
CLOSE_TIMEOUT_S = 10.0


class CloseRequested(Exception):
    """`receive()` was interrupted: the node closes this socket (`Connection.close`)."""


class Connection:
    """Owns one writer task. `send()` never blocks the room: a client that stops reading
    until its outbox is full is disconnected.

    The close handshake runs in the reading task (`finish()`), never in the writer: aiohttp's
    close from another task while `receive()` waits drops the TCP connection at once, without
    waiting for the client's close reply, and a client busy for a moment then reads the close
    frame, fails to answer it, and aiohttp's client reports 1006 instead of the node's code
    (issue 19: a takeover's 4409 seen as 1006, which is not final, so the old client came back).
    """

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.identity: str | None = None
        self._outbox: asyncio.Queue[p.ServerMessage | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer = asyncio.ensure_future(self._write())
        self._closing = False
        self._close_code: int = p.CloseCode.NORMAL
        self._close_reason = ""
        self._receiving: asyncio.Task[object] | None = None
        self._interrupted = False

    def send(self, message: p.ServerMessage) -> None:
        if self._closing:
            return
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("connection_too_slow", participant=self.identity)
            self.close(p.CloseCode.SLOW, "too slow")

    def close(self, code: int, reason: str) -> None:
        """Flush what is queued, then close the socket with `code` (see `finish`)."""
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

    async def receive(self, timeout: float | None = None) -> WSMessage:
        """The socket's next frame; CloseRequested once a requested close has flushed."""
        if self._closing:
            raise CloseRequested
        task = asyncio.current_task()
        assert task is not None
        self._receiving = task
        try:
            return await self.ws.receive(timeout=timeout)
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            self._interrupted = False
            task.uncancel()
            raise CloseRequested from None
        finally:
            self._receiving = None

    async def _write(self) -> None:
        try:
            while True:
                message = await self._outbox.get()
                if message is None:
                    break
                await self.ws.send_str(encode(message))
        except (ConnectionError, RuntimeError):
            pass  # the socket is gone or closing
        except Exception:
            log.exception("connection_write_failed", participant=self.identity)
        if self._receiving is not None:  # wake the reader: it runs the close handshake
            self._interrupted = True
            self._receiving.cancel()

    async def finish(self) -> None:
        """From the reading task: flush (bounded), then the close handshake (bounded)."""
        self.close(p.CloseCode.NORMAL, "bye")  # no-op if a close was requested
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._writer), FLUSH_TIMEOUT_S)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(
                self.ws.close(code=self._close_code,
                              message=self._close_reason.encode()[:120]),
                CLOSE_TIMEOUT_S + 1.0,
            )


def encode(message: p.ServerMessage) -> str:
    """The message as JSON text; never fails on text that UTF-8 cannot carry (a lone
    surrogate is sent escaped, as `ensure_ascii` does)."""
    try:
        return message.model_dump_json()
    except PydanticSerializationError:
        return json.dumps(message.model_dump(mode="json"), ensure_ascii=True)
