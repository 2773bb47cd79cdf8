"""The cluster over HTTP: 307 for a room call that belongs to another node, the admin
listing of nodes and rooms across the cluster (`GET /v1/cluster`), and a room's events on
any node (`GET /v1/rooms/{id}/events`, room_events_sse.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from media.ids import RoomId, valid_id

from .cluster import CLUSTER, PlacementUnavailable, WrongNode
from .directory import DirectoryUnavailable
from .event_stream import resume_point
from .room_events import ROOM_EVENTS
from .room_events_sse import stream

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def redirect_rooms(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`/v1/rooms/{id}...` (not the socket) for a room this node does not host and another
    live node owns: 307 to the same path there (same method and body; the API key is the
    same on every node). Not the socket, nor the room's events (served by every node)."""
    raw = request.match_info.get("room_id")
    if (raw is not None and valid_id(raw)
            and not request.path.endswith(("/ws", "/events"))):
        owner = await request.app[CLUSTER].owner_elsewhere(RoomId(raw))
        if owner is not None:
            raise web.HTTPTemporaryRedirect(owner.url.rstrip("/") + request.path_qs)
    return await handler(request)


async def place_for_create(request: web.Request, room: RoomId) -> web.Response | None:
    """Before `POST /v1/rooms`: None to create it here, else the reply (307 to the node
    the directory places it on, or 503 `placement_unavailable`)."""
    try:
        await request.app[CLUSTER].place(room)
    except WrongNode as exc:
        raise web.HTTPTemporaryRedirect(exc.base_url + request.path_qs) from exc
    except PlacementUnavailable as exc:
        response = _error(503, exc.code, exc.message)
        response.headers["Retry-After"] = str(round(exc.retry_after_s))
        return response
    return None


async def cluster_listing(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    try:
        nodes = await cluster.directory.nodes()
        rooms = await cluster.directory.rooms()
    except DirectoryUnavailable as exc:
        return _error(503, "directory_unavailable", str(exc)[:200])
    urls = {n.id: n.url for n in nodes}
    return web.json_response({
        "node": cluster.node_id,
        "nodes": [{"id": n.id, "url": n.url, "state": n.state.value, "load": n.load,
                   "rooms": n.rooms, "version": n.version, "canary_share": n.canary_share,
                   "canary_by": n.canary_by} for n in nodes],
        "rooms": [{"id": room, "node": owner, "url": urls.get(owner)}
                  for room, owner in sorted(rooms.items())],
    })


async def room_events(request: web.Request) -> web.StreamResponse:
    """`GET /v1/rooms/{id}/events`: Server-Sent Events from `Last-Event-ID` or `?after=`
    (`0`: all the stream keeps), else from now on; 400 for a bad room id or event id."""
    raw = request.match_info["room_id"]
    if not valid_id(raw):
        return _error(400, "invalid_request", "room id must be 1-64 of A-Z a-z 0-9 _ -")
    try:
        after = resume_point(request.headers.get("Last-Event-ID"),
                             request.query.get("after"))
    except ValueError as exc:
        return _error(400, "invalid_request", str(exc))
    return await stream(request, request.app[ROOM_EVENTS], RoomId(raw), after)


def add_routes(app: web.Application) -> None:
    app.middlewares.append(redirect_rooms)
    app.router.add_get("/v1/cluster", cluster_listing)
    app.router.add_get("/v1/rooms/{room_id}/events", room_events)
