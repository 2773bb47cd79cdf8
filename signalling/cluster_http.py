"""The cluster over HTTP: 307 for a room call that belongs to another node, and the
admin listing of nodes and rooms across the cluster (`GET /v1/cluster`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from media.ids import RoomId, valid_id

from .cluster import CLUSTER, PlacementUnavailable, WrongNode
from .directory import DirectoryUnavailable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def redirect_rooms(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`/v1/rooms/{id}...` (not the socket) for a room this node does not host and another
    live node owns: 307 to the same path there (same method and body; the API key is the
    same on every node)."""
    raw = request.match_info.get("room_id")
    if raw is not None and valid_id(raw) and not request.path.endswith("/ws"):
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


def add_routes(app: web.Application) -> None:
    app.middlewares.append(redirect_rooms)
    app.router.add_get("/v1/cluster", cluster_listing)
