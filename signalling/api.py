"""The HTTP API under /v1 (admin calls need `Authorization: Bearer <api key>`) and health."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from media.ids import LeaveReason, Role, RoomId

from .keys import NODE
from .tokens import Consent, TokenGrants, mint
from .wire import room_info

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROOM_ID = r"[A-Za-z0-9_-]{1,64}"
_ROOM_ID = re.compile(ROOM_ID)


class CreateRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=f"^{ROOM_ID}$")
    max_participants: int | None = Field(None, ge=1, le=64)


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(pattern=f"^{ROOM_ID}$")
    identity: str = Field(min_length=1, max_length=128)
    name: str = Field("", max_length=128)
    role: Role
    grants: TokenGrants | None = None
    ttl_s: int | None = Field(None, ge=10, le=7 * 24 * 3600)
    consent: Consent | None = None  # a learner's guardian consent (docs/privacy.md)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") and not request.path.endswith("/ws"):
        expected = request.app[NODE].api_key
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, "unauthorized", "missing or wrong API key")
    return await handler(request)


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        data = await request.json()
        return model.model_validate(data)
    except ValueError as exc:  # bad JSON and ValidationError alike
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"code": "invalid_request", "message": detail[:300]}}),
            content_type="application/json",
        ) from exc


async def create_room(request: web.Request) -> web.Response:
    body = await _body(request, CreateRoom)
    node = request.app[NODE]
    try:
        hub = node.create_room(RoomId(body.id), body.max_participants)
    except KeyError:
        return _error(409, "room_exists", f"room {body.id} exists")
    return web.json_response(room_info(hub.room).model_dump(mode="json"), status=201)


async def list_rooms(request: web.Request) -> web.Response:
    hubs = request.app[NODE].hubs.values()
    return web.json_response({"rooms": [room_info(h.room).model_dump(mode="json") for h in hubs]})


async def get_room(request: web.Request) -> web.Response:
    hub = request.app[NODE].hubs.get(RoomId(request.match_info["room_id"]))
    if hub is None:
        return _error(404, "room_not_found", "no such room")
    return web.json_response(room_info(hub.room).model_dump(mode="json"))


async def room_quality(request: web.Request) -> web.Response:
    """Live connection quality per participant (pseudonymous: identities only)."""
    hub = request.app[NODE].hubs.get(RoomId(request.match_info["room_id"]))
    if hub is None:
        return _error(404, "room_not_found", "no such room")
    participants = []
    for participant in hub.room:
        report = hub.quality_reports.get(participant.identity)
        participants.append({
            "identity": participant.identity,
            "presence": participant.presence.value,
            "quality": report.quality.value if report and report.quality else None,
            "score": round(report.score, 2) if report and report.score else None,
            "up": asdict(report.up) if report else None,
            "down": asdict(report.down) if report else None,
        })
    return web.json_response({"room": hub.id, "participants": participants})


async def close_room(request: web.Request) -> web.Response:
    closed = await request.app[NODE].close_room(
        RoomId(request.match_info["room_id"]), LeaveReason.ROOM_CLOSED
    )
    if not closed:
        return _error(404, "room_not_found", "no such room")
    return web.Response(status=204)


async def create_token(request: web.Request) -> web.Response:
    body = await _body(request, CreateToken)
    node = request.app[NODE]
    ttl = body.ttl_s or node.settings.token_ttl_s
    token = mint(
        node.secret, room=body.room, identity=body.identity, role=body.role,
        name=body.name, grants=body.grants, ttl_s=ttl, consent=body.consent,
    )
    base = node.settings.base_url()
    return web.json_response(
        {"token": token, "ttl_s": ttl, "ws_url": f"{base.replace('http', 'ws', 1)}"
         f"/v1/rooms/{body.room}/ws", "join_url": f"{base}/join?token={token}"},
        status=201,
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if not node.ready:
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ready", "rooms": len(node.hubs)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/rooms", create_room)
    app.router.add_get("/v1/rooms", list_rooms)
    app.router.add_get("/v1/rooms/{room_id}", get_room)
    app.router.add_delete("/v1/rooms/{room_id}", close_room)
    app.router.add_get("/v1/rooms/{room_id}/quality", room_quality)
    app.router.add_post("/v1/tokens", create_token)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
