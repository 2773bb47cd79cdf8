"""The HTTP API under /v1 (admin calls need `Authorization: Bearer <api key>`) and health."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from media.ids import LeaveReason, Role, RoomId, valid_id

from . import cluster_http
from .admission import NodeOverloaded
from .cluster import CLUSTER
from .directory import NodeState
from .errors import SignalCode, SignalError
from .flags import Audience, flags_info
from .hub import RoomHub
from .inbound import MAX_DEPTH, too_deep
from .keys import NODE
from .protocol import WireId
from .tokens import MAX_TTL_S, Consent, DisplayName, TokenGrants, mint
from .wire import room_info

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CreateRoom(BaseModel):
    """Strict: a string is not a number, a number is not a boolean (JSON types as given)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: WireId
    max_participants: int | None = Field(None, ge=1, le=64)


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    room: WireId
    identity: WireId
    name: DisplayName = ""
    role: Role
    grants: TokenGrants | None = None
    ttl_s: int | None = Field(None, ge=10, le=MAX_TTL_S)
    consent: Consent | None = None  # a learner's guardian consent (docs/privacy.md)
    cohort: WireId | None = None  # rollout labels (signalling/flags.py)
    segment: WireId | None = None
    channel: WireId | None = None


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


def _invalid(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": {"code": "invalid_request", "message": message[:300]}}),
        content_type="application/json",
    )


async def _body(request: web.Request, model: type[M]) -> M:
    """The body as `model`, parsed once (pydantic's JSON parser, strict types) after the
    depth check; 400 `invalid_request` for anything else (413 over the size limit)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:  # over the app's client_max_size
        raise web.HTTPRequestEntityTooLarge(
            request.client_max_size,
            text=json.dumps({"error": {"code": "request_too_large",
                                       "message": f"body over {request.client_max_size} bytes"}}),
            content_type="application/json",
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid("body is not UTF-8") from exc
    if too_deep(text, MAX_DEPTH):
        raise _invalid(f"JSON nested deeper than {MAX_DEPTH}")
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(x) for x in first["loc"])[:64]
        raise _invalid(f"{where}: {first['msg']}" if where else first["msg"]) from exc


def _room_id(request: web.Request) -> RoomId:
    raw = request.match_info["room_id"]
    if not valid_id(raw):
        raise _invalid("a room id is 1-64 of A-Z a-z 0-9 _ -")
    return RoomId(raw)


async def create_room(request: web.Request) -> web.Response:
    body = await _body(request, CreateRoom)
    node = request.app[NODE]
    refused = await cluster_http.place_for_create(request, RoomId(body.id))
    if refused is not None:  # placed on another node: 307 there; or cannot be placed
        return refused
    try:
        hub = node.create_room(RoomId(body.id), body.max_participants)
    except NodeOverloaded as exc:  # signalling/admission.py
        response = _error(503, exc.code, exc.message)
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        return response
    except SignalError as exc:
        if exc.code is not SignalCode.ROOM_EXISTS:
            raise
        return _error(409, exc.code, exc.message)
    return web.json_response(room_state(hub), status=201)


def room_state(hub: RoomHub) -> dict[str, object]:
    """The admin API's room: the wire's room info and the flags in force (flags.py);
    `fixed` once its first join has set them from that token's claims."""
    return {**room_info(hub.room).model_dump(mode="json"),
            "flags": {**flags_info(hub.flags, hub.audience), "fixed": hub.started}}


async def list_rooms(request: web.Request) -> web.Response:
    hubs = request.app[NODE].hubs.values()
    return web.json_response({"rooms": [room_state(h) for h in hubs]})


async def get_room(request: web.Request) -> web.Response:
    hub = request.app[NODE].hubs.get(_room_id(request))
    if hub is None:
        return _error(404, "room_not_found", "no such room")
    return web.json_response(room_state(hub))


async def room_quality(request: web.Request) -> web.Response:
    """Live connection quality per participant (pseudonymous: identities only)."""
    hub = request.app[NODE].hubs.get(_room_id(request))
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
        _room_id(request), LeaveReason.ROOM_CLOSED
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
        audience=Audience(cohort=body.cohort, segment=body.segment, channel=body.channel),
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
    if request.app[CLUSTER].state is NodeState.DRAINING:  # signalling/drain.py
        return web.json_response({"status": "draining", "rooms": len(node.hubs)}, status=503)
    if not request.app[CLUSTER].reachable:  # Redis configured and not answering
        return web.json_response({"status": "directory_unreachable"}, status=503)
    body: dict[str, object] = {"status": "ready", "rooms": len(node.hubs),
                               "overloaded": node.admission.overloaded}
    if node.admission.overloaded:  # still serving its rooms: 200 (docs/operations.md)
        body.update(reason=node.admission.reason,
                    retry_after_s=node.admission.retry_after_s)
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/rooms", create_room)
    app.router.add_get("/v1/rooms", list_rooms)
    app.router.add_get("/v1/rooms/{room_id}", get_room)
    app.router.add_delete("/v1/rooms/{room_id}", close_room)
    app.router.add_get("/v1/rooms/{room_id}/quality", room_quality)
    app.router.add_post("/v1/tokens", create_token)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
