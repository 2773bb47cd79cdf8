"""A participant's WebSocket as the hub sees it: non-blocking sends through a bounded outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct

import structlog
from aiohttp import WSCloseCode, WSMessage, web
from pydantic_core import PydanticSerializationError

from . import protocol as p

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 512
FLUSH_TIMEOUT_S = 2.0  # a closing socket's queued messages get this long to go out
CLOSE_TIMEOUT_S = 5.0
"""A close the peer has not answered in this long is cut (transport reset): long enough for
a client busy for a few seconds to read its close code (a takeover's 4409)."""
SLOW_CLOSE_TIMEOUT_S = 1.0
"""The same for a peer that stopped reading (4010): it will not answer."""


class CloseRequested(Exception):
    """`receive()` was interrupted: the node closes this socket (`Connection.close`)."""


class Connection:
    """Owns one writer task. `send()` never blocks the room: a client that stops reading
    until its outbox is full is closed 4010 at once, its queue dropped.

    The close handshake runs in the reading task (`finish()`), never in the writer: aiohttp's
    close from another task while `receive()` waits drops the TCP connection at once, without
    waiting for the client's close reply, and a client busy for a moment then reads the close
    frame, fails to answer it, and aiohttp's client reports 1006 instead of the node's code
    (issue 19: a takeover's 4409 seen as 1006, which is not final, so the old client came back).
    A peer that does not answer the close in time is reset (SO_LINGER 0): a plain close would
    leave the kernel retrying unread data and the FIN behind it for minutes.
    """

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport | None = None
    ) -> None:
        self.ws = ws
        self._transport = transport  # reset when the peer does not answer a close
        self.identity: str | None = None
        self._outbox: asyncio.Queue[p.ServerMessage | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer = asyncio.ensure_future(self._write())
        self._closing = False
        self._close_code: int = p.CloseCode.NORMAL
        self._close_reason = ""
        self._close_timeout = CLOSE_TIMEOUT_S
        self._receiving: asyncio.Task[object] | None = None
        self._interrupted = False

    def send(self, message: p.ServerMessage) -> None:
        if self._closing:
            return
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("connection_too_slow", participant=self.identity)
            self.close(p.CloseCode.SLOW, "too slow", flush=False)

    def close(self, code: int, reason: str, flush: bool = True) -> None:
        """Flush what is queued (unless `flush` is false), then close the socket with
        `code` (see `finish`)."""
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._close_reason = reason
        if not flush:  # the writer waits on a peer that does not read: drop the queue
            self._close_timeout = SLOW_CLOSE_TIMEOUT_S
            self._writer.cancel()
            self._wake_reader()
            return
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

    def _wake_reader(self) -> None:
        if self._receiving is not None:  # the reader runs the close handshake
            self._interrupted = True
            self._receiving.cancel()

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
        self._wake_reader()

    async def finish(self) -> None:
        """From the reading task: flush (bounded), then the close handshake (bounded),
        then, if the peer did not answer, reset the connection."""
        self.close(p.CloseCode.NORMAL, "bye")  # no-op if a close was requested
        await asyncio.wait({self._writer}, timeout=FLUSH_TIMEOUT_S)
        self._writer.cancel()
        await asyncio.wait({self._writer}, timeout=FLUSH_TIMEOUT_S)
        # the handshake in a task of its own, waited for with a bound: aiohttp's close
        # may wait on a send that a peer which does not read never lets finish
        closing = asyncio.ensure_future(
            self.ws.close(code=self._close_code, message=self._close_reason.encode()[:120]))
        done, _ = await asyncio.wait({closing}, timeout=self._close_timeout)
        answered = closing in done and not closing.cancelled() and closing.exception() is None
        if (not answered or self._close_timeout is SLOW_CLOSE_TIMEOUT_S
                or self.ws.close_code in (None, WSCloseCode.ABNORMAL_CLOSURE)):
            self._reset()  # the peer did not answer the close (or never reads)
        if not closing.done():
            closing.cancel()
            await asyncio.wait({closing}, timeout=FLUSH_TIMEOUT_S)
        if closing.done() and not closing.cancelled():
            closing.exception()  # retrieved: a failed close of a gone peer is expected

    def _reset(self) -> None:
        """Reset the TCP connection (RST): aiohttp's transport close waits for unsent data
        that a peer which does not read never takes, and the kernel retries it for
        minutes."""
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if self._transport is None or sock is None or sock.fileno() < 0:
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.abort()
        log.info("connection_cut", participant=self.identity, code=self._close_code)


def encode(message: p.ServerMessage) -> str:
    """The message as JSON text; never fails on text that UTF-8 cannot carry (a lone
    surrogate is sent escaped, as `ensure_ascii` does)."""
    try:
        return message.model_dump_json()
    except PydanticSerializationError:
        return json.dumps(message.model_dump(mode="json"), ensure_ascii=True)
