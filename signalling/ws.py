"""The WebSocket endpoint: one socket per participant, `/v1/rooms/{room}/ws`."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiohttp import WSMsgType, web

from media.errors import CodedError, ErrorCode
from media.ids import Identity, LeaveReason, RoomId, valid_id

from . import inbound
from . import protocol as p
from .cluster import CLUSTER
from .connection import CLOSE_TIMEOUT_S, CloseRequested, Connection, encode
from .errors import SignalCode, SignalError
from .hub import RoomHub
from .keys import NODE, SOCKETS
from .ratelimit import Admission, TokenBucket
from .tokens import resume_token, verify

log = structlog.get_logger(__name__)

C = p.CloseCode
# The close code of each error that closes the socket (before join every error closes it:
# with this code, else PROTOCOL). docs/protocol.md, "Errors".
CLOSE_CODES: dict[str, p.CloseCode] = {
    SignalCode.NOT_JOINED: C.PROTOCOL,
    SignalCode.UNSUPPORTED_VERSION: C.PROTOCOL,
    SignalCode.ALREADY_JOINED: C.PROTOCOL,
    SignalCode.BAD_TOKEN: C.AUTH,
    SignalCode.TOKEN_EXPIRED: C.AUTH,
    SignalCode.WRONG_ROOM: C.FORBIDDEN,
    SignalCode.ROOM_NOT_FOUND: C.NOT_FOUND,
    SignalCode.JOIN_TIMEOUT: C.JOIN_TIMEOUT,
    ErrorCode.ROOM_FULL: C.ROOM_FULL,
    ErrorCode.ROOM_CLOSED: C.NOT_FOUND,
    SignalCode.MESSAGE_TOO_LARGE: C.TOO_LARGE,
    SignalCode.RATE_LIMITED: C.RATE_LIMITED,
    SignalCode.NODE_OVERLOADED: C.NODE_OVERLOADED,  # signalling/admission.py
    SignalCode.WRONG_NODE: C.WRONG_NODE,  # signalling/cluster.py
    SignalCode.PLACEMENT_UNAVAILABLE: C.NODE_OVERLOADED,
}
_ALWAYS_CLOSE = frozenset([SignalCode.JOIN_TIMEOUT, SignalCode.MESSAGE_TOO_LARGE])
_TOO_LARGE = encode(p.Error(code=SignalCode.MESSAGE_TOO_LARGE, message="message too large"))


class Socket(web.WebSocketResponse):
    """aiohttp refuses a frame over `max_msg_size` itself, closing 1009 before the handler
    sees it: say `message_too_large` first, as the protocol promises."""

    async def close(
        self, *, code: int = C.NORMAL, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == C.TOO_LARGE and not self.closed:
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                await asyncio.wait_for(self.send_str(_TOO_LARGE), CLOSE_TIMEOUT_S)
        return await super().close(code=code, message=message, drain=drain)


class Session:
    """Reads one participant's socket and turns its messages into hub calls."""

    def __init__(self, request: web.Request, conn: Connection, now: float) -> None:
        self.node = request.app[NODE]
        self.cluster = request.app[CLUSTER]
        self.settings = self.node.settings
        raw_room = request.match_info["room_id"]
        self.room_id = RoomId(raw_room) if valid_id(raw_room) else None  # refused at join
        self.conn = conn
        self.hub: RoomHub | None = None
        self.bucket = TokenBucket(self.settings.ws_rate, self.settings.ws_burst, now)

    async def step(self, frame: str | bytes, now: float) -> None:
        """Answer one frame; every input ends in a reply or an error, never an exception."""
        if isinstance(frame, bytes):
            parsed: p.ClientMessage | inbound.Refusal = inbound.Refusal(SignalError(
                SignalCode.INVALID_MESSAGE, "binary frames are not part of the protocol"))
        else:
            parsed = inbound.read(frame, max_bytes=self.settings.max_message_bytes)
        request_id = parsed.request_id if isinstance(parsed, inbound.Refusal) else parsed.id
        admission = self.bucket.take(now)
        if admission is not Admission.ACCEPT:
            self.refuse(request_id, SignalError(
                SignalCode.RATE_LIMITED,
                f"over {self.settings.ws_rate:g} requests a second; slow down"),
                close=admission is Admission.CLOSE)
            return
        if isinstance(parsed, inbound.Refusal):
            self.refuse(request_id, parsed.error)
            return
        try:
            await self.handle(parsed)
        except CodedError as exc:
            self.refuse(request_id, exc)
        except Exception:
            log.exception("message_failed", room=self.room_id, type=parsed.type)
            self.refuse(request_id, SignalError(SignalCode.INTERNAL, "internal error"))

    async def handle(self, message: p.ClientMessage) -> None:
        if self.hub is None:
            if not isinstance(message, p.Join):
                raise SignalError(SignalCode.NOT_JOINED, "send join first")
            await self.join(message)
            return
        identity = Identity(self.conn.identity or "")
        match message:
            case p.Join():
                raise SignalError(SignalCode.ALREADY_JOINED, "this socket has joined already")
            case p.Publish(id=rid, sdp=sdp):
                await self.hub.publish(identity, sdp, rid)
            case p.Unpublish(id=rid):
                await self.hub.unpublish(identity)
                self.conn.send(p.Ok(id=rid))
            case p.Answer(id=rid, downlink=downlink, sdp=sdp):
                await self.hub.answer(identity, downlink, sdp)
                self.conn.send(p.Ok(id=rid))
            case p.Mute(id=rid, kind=kind, muted=muted):
                await self.hub.mute(identity, kind, muted)
                self.conn.send(p.Ok(id=rid))
            case p.Record(id=rid, active=active):
                await self.hub.record(identity, active)
                self.conn.send(p.Ok(id=rid))
            case p.Ping(id=rid, ice=ice):
                if ice:
                    self.hub.check_ice(identity)
                self.conn.send(p.Ok(id=rid))
            case p.Leave(id=rid, unload=unload):
                self.conn.send(p.Ok(id=rid))
                await self.hub.leave(self.conn, LeaveReason.LEFT, unload=unload)
                self.conn.close(C.NORMAL, "left")

    async def join(self, message: p.Join) -> None:
        if self.room_id is None:
            raise SignalError(SignalCode.INVALID_MESSAGE, "the room id in the URL is not "
                              "1-64 of A-Z a-z 0-9 _ -")
        if message.v != p.PROTOCOL_VERSION:
            raise SignalError(
                SignalCode.UNSUPPORTED_VERSION,
                f"protocol version {message.v} unsupported; this node speaks {p.PROTOCOL_VERSION}",
            )
        claims = verify(self.node.secret, message.token, room=self.room_id)
        await self.cluster.place(self.room_id, create=self.settings.auto_create_rooms,
                                 cohort=claims.cohort)
        hub = self.node.hub_for_join(self.room_id, Identity(claims.sub))
        token = resume_token(self.node.secret, claims, self.settings.token_ttl_s)
        await hub.join(self.conn, claims, message.id, token)
        self.hub = hub

    def refuse(self, request_id: str | None, exc: CodedError, close: bool = False) -> None:
        """Answer `exc`; close the socket if the error is fatal (any error before join)."""
        code = CLOSE_CODES.get(exc.code)
        if exc.code != SignalCode.MESSAGE_TOO_LARGE:  # that one Socket.close says itself
            self.conn.send(p.Error(id=request_id, code=exc.code, message=exc.message,
                                   retry_after_s=getattr(exc, "retry_after_s", None),
                                   url=getattr(exc, "url", None)))
        if close or self.hub is None or exc.code in _ALWAYS_CLOSE:
            self.conn.close(code or C.PROTOCOL, exc.code)
        log.info("request_refused", code=exc.code, participant=self.conn.identity)


async def websocket(request: web.Request) -> web.StreamResponse:
    settings = request.app[NODE].settings
    ws = Socket(max_msg_size=settings.max_message_bytes, heartbeat=20.0,
                timeout=CLOSE_TIMEOUT_S)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    conn = Connection(ws, request.transport)
    session = Session(request, conn, loop.time())
    request.app[SOCKETS].add(ws)
    try:
        await _serve(session, settings.join_timeout_s)
    finally:
        request.app[SOCKETS].discard(ws)
        if session.hub is not None:
            await session.hub.leave(conn, LeaveReason.DISCONNECTED)
        await conn.finish()  # flush, then the close handshake, from this (the reading) task
    return ws


async def _serve(session: Session, join_timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + join_timeout
    while not session.conn.closing:
        timeout = None if session.hub else max(0.0, deadline - loop.time())
        try:
            msg = await session.conn.receive(timeout=timeout)
        except TimeoutError:
            session.refuse(None, SignalError(SignalCode.JOIN_TIMEOUT, "no join in time"))
            return
        except CloseRequested:
            return
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            await session.step(msg.data, loop.time())
            # receive() does not yield while frames are buffered: let this socket's writer
            # (and every other socket) run between two messages, so a burst neither fills
            # the outbox of a client that reads its replies nor stalls the other rooms
            await asyncio.sleep(0)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
