"""A room's events as Server-Sent Events (`GET /v1/rooms/{id}/events`, cluster_http.py).

Served by any node: it reads the room's stream (event_stream.py), wherever the room runs.
Each event's `id:` is its stream id: a consumer that reconnects sends `Last-Event-ID` (or
`?after=`) and gets what it missed, then the live tail. Bounded: one blocking read of at
most `BLOCK_S` at a time, a keep-alive comment every `KEEPALIVE_S` of silence, the end after
the room's `room_closed`, after `LIVEROOM_ROOM_EVENTS_MAX_S`, when the node shuts down or
the stream becomes unreachable (the consumer reconnects with its last id), and at most
`RoomEvents.max_consumers` streams per node (429 beyond).
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from media.ids import RoomId

from .event_stream import (
    ZERO,
    EventStreamUnavailable,
    StreamId,
    sse_comment,
    sse_frame,
    sse_retry,
)
from .room_events import EventType, RoomEvents, event_type_of

log = structlog.get_logger(__name__)

BLOCK_S = 1.0  # one read waits at most this long (so shutdown and a gone consumer are seen)
KEEPALIVE_S = 15.0
RETRY_MS = 2000  # an EventSource reconnects after this long


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def stream(request: web.Request, events: RoomEvents, room: RoomId,
                 after: StreamId | None) -> web.StreamResponse:
    """The room's events after `after` (None: from now on)."""
    if events.consumers >= events.max_consumers:
        response = _error(429, "too_many_streams", f"at most {events.max_consumers} event "
                          "streams per node; retry later")
        response.headers["Retry-After"] = "5"
        return response
    events.consumers += 1
    try:
        return await _stream(request, events, room, after)
    finally:
        events.consumers -= 1


async def _stream(request: web.Request, events: RoomEvents, room: RoomId,
                  after: StreamId | None) -> web.StreamResponse:
    try:
        last = await events.log.last(room)
    except EventStreamUnavailable as exc:
        return _error(503, "event_stream_unavailable", str(exc)[:200])
    if after is None:
        cursor = last.id if last is not None else ZERO
    elif (last is not None and last.id == after
          and event_type_of(last.event) == EventType.ROOM_CLOSED):
        return web.Response(status=204)  # it saw the end: an EventSource stops here
    else:
        cursor = after
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    clock = asyncio.get_running_loop().time
    started = wrote = clock()
    ends = started + events.max_s
    sent, why = 0, "stopping"
    try:
        await response.write(sse_retry(RETRY_MS))
        while not events.stopping.is_set():
            now = clock()
            transport = request.transport
            if now >= ends or transport is None or transport.is_closing():
                why = "max_duration" if now >= ends else "consumer_gone"
                break
            try:
                entries = await events.log.read(room, cursor, min(BLOCK_S, ends - now))
            except EventStreamUnavailable:
                await response.write(sse_comment("event stream unavailable; reconnect"))
                why = "unavailable"
                break
            closed = False
            for entry in entries:
                kind = event_type_of(entry.event)
                await response.write(sse_frame(entry, kind))
                cursor, sent, wrote = entry.id, sent + 1, clock()
                if kind == EventType.ROOM_CLOSED:
                    closed = True
                    break
            if closed:
                why = "room_closed"
                break
            if clock() - wrote >= KEEPALIVE_S:
                await response.write(sse_comment("keep-alive"))
                wrote = clock()
        await response.write_eof()
    except ConnectionResetError:
        why = "consumer_gone"
    log.info("room_events_stream_ended", room=room, events=sent, why=why,
             took_s=round(clock() - started, 3))
    return response
