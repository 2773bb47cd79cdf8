"""The WebSocket endpoint: one socket per participant, `/v1/rooms/{room}/ws`."""

from __future__ import annotations

import asyncio
import json

import structlog
from aiohttp import WSMsgType, web
from pydantic import ValidationError

from media.errors import ErrorCode, MediaError
from media.ids import Identity, LeaveReason, RoomId

from . import protocol as p
from .connection import Connection
from .errors import SignalCode, SignalError
from .hub import RoomHub
from .keys import NODE, SOCKETS
from .tokens import resume_token, verify

log = structlog.get_logger(__name__)

# Close codes (docs/protocol.md): 4000 protocol, 4001 auth, 4003 forbidden, 4004 not found,
# 4008 join timeout, 4009 room full, 1009 too large.
CLOSE_CODES: dict[str, int] = {
    SignalCode.NOT_JOINED: 4000,
    SignalCode.UNSUPPORTED_VERSION: 4000,
    SignalCode.ALREADY_JOINED: 4000,
    SignalCode.BAD_TOKEN: 4001,
    SignalCode.TOKEN_EXPIRED: 4001,
    SignalCode.WRONG_ROOM: 4003,
    SignalCode.ROOM_NOT_FOUND: 4004,
    SignalCode.JOIN_TIMEOUT: 4008,
    ErrorCode.ROOM_FULL: 4009,
    ErrorCode.ROOM_CLOSED: 4004,
    SignalCode.MESSAGE_TOO_LARGE: 1009,
}


class Session:
    """Reads one participant's socket and turns its messages into hub calls."""

    def __init__(self, request: web.Request, conn: Connection) -> None:
        self.node = request.app[NODE]
        self.settings = self.node.settings
        self.room_id = RoomId(request.match_info["room_id"])
        self.conn = conn
        self.hub: RoomHub | None = None

    def parse(self, data: str) -> p.ClientMessage:
        if len(data.encode()) > self.settings.max_message_bytes:
            raise SignalError(
                SignalCode.MESSAGE_TOO_LARGE,
                f"message over {self.settings.max_message_bytes} bytes",
            )
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise SignalError(SignalCode.BAD_JSON, f"not JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("type") not in p.CLIENT_TYPES:
            kind = raw.get("type") if isinstance(raw, dict) else None
            raise SignalError(SignalCode.UNKNOWN_TYPE, f"unknown message type {kind!r}")
        try:
            return p.CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"][1:])
            raise SignalError(
                SignalCode.INVALID_MESSAGE, f"{raw['type']}: {where} {first['msg']}"
            ) from exc

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
            case p.Ping(id=rid):
                self.conn.send(p.Ok(id=rid))
            case p.Leave(id=rid, unload=unload):
                self.conn.send(p.Ok(id=rid))
                await self.hub.leave(self.conn, LeaveReason.LEFT, unload=unload)
                self.conn.close(1000, "left")

    async def join(self, message: p.Join) -> None:
        if message.v != p.PROTOCOL_VERSION:
            raise SignalError(
                SignalCode.UNSUPPORTED_VERSION,
                f"protocol version {message.v} unsupported; this node speaks {p.PROTOCOL_VERSION}",
            )
        claims = verify(self.node.secret, message.token, room=self.room_id)
        hub = self.node.hub_for_join(self.room_id)
        token = resume_token(self.node.secret, claims, self.settings.token_ttl_s)
        await hub.join(self.conn, claims, message.id, token)
        self.hub = hub


def _request_id(data: str) -> str | None:
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    rid = raw.get("id") if isinstance(raw, dict) else None
    return rid if isinstance(rid, str) and len(rid) <= 64 else None


async def websocket(request: web.Request) -> web.StreamResponse:
    settings = request.app[NODE].settings
    ws = web.WebSocketResponse(max_msg_size=4 * settings.max_message_bytes, heartbeat=20.0)
    await ws.prepare(request)
    conn = Connection(ws, request.transport)
    session = Session(request, conn)
    request.app[SOCKETS].add(ws)
    try:
        await _serve(ws, session, settings.join_timeout_s)
    finally:
        request.app[SOCKETS].discard(ws)
        if session.hub is not None:
            await session.hub.leave(conn, LeaveReason.DISCONNECTED)
        if not conn.closing:
            conn.close(1000, "bye")
        await conn.stop()
        if not ws.closed:
            await ws.close()
    return ws


async def _serve(ws: web.WebSocketResponse, session: Session, join_timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + join_timeout
    while not session.conn.closing:
        timeout = None if session.hub else max(0.0, deadline - loop.time())
        try:
            msg = await ws.receive(timeout=timeout)
        except TimeoutError:
            _fail(session.conn, None, SignalError(SignalCode.JOIN_TIMEOUT, "no join in time"))
            return
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        if msg.type is not WSMsgType.TEXT:
            _fail(session.conn, None, SignalError(SignalCode.INVALID_MESSAGE, "text frames only"))
            continue
        request_id = _request_id(msg.data) if len(msg.data) < 4096 else None
        try:
            await session.handle(session.parse(msg.data))
        except (SignalError, MediaError) as exc:
            _fail(session.conn, request_id, exc, fatal=session.hub is None)
        except Exception:
            log.exception("message_failed", room=session.room_id)
            _fail(session.conn, request_id, SignalError(SignalCode.INTERNAL, "internal error"))


def _fail(
    conn: Connection, request_id: str | None, exc: SignalError | MediaError, fatal: bool = False
) -> None:
    conn.send(p.Error(id=request_id, code=exc.code, message=exc.message))
    code = CLOSE_CODES.get(exc.code)
    if code == 1009 or (fatal and code is not None) or exc.code == SignalCode.JOIN_TIMEOUT:
        conn.close(code or 4000, exc.code)
    elif fatal:
        conn.close(4000, exc.code)
    log.info("request_refused", code=exc.code, participant=conn.identity)

