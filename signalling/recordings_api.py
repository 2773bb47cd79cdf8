"""The admin HTTP API for recordings (behind the API key, like the rest of /v1).

    GET    /v1/recordings                      sessions (status, room, dates, tracks)
    GET    /v1/recordings/{session}            one session: info, manifest, timeline
    GET    /v1/recordings/{session}/tracks/{track}   the finalized WebM (decrypted)
    DELETE /v1/recordings/{session}            erase a session (audit tombstone)
    DELETE /v1/participants/{pseudonym}/recordings   erase a participant's tracks
    POST   /v1/recordings/purge                run the retention purge now
    POST   /v1/rooms/{room}/recording          start recording a room (optional policy)
    DELETE /v1/rooms/{room}/recording          stop it (the tracks are finalized)

Every id in a path must be `[A-Za-z0-9_-]{1,64}`; anything else is refused (400).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from media.ids import RoomId
from recorder.consent import Policy, RoomPolicy
from recorder.errors import RecorderCode, RecorderError
from recorder.ids import checked_id

from .keys import NODE
from .recording import RECORDING, RecordingService


class StartRecording(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Policy | None = None
    learner_video: bool | None = None


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _id(request: web.Request, name: str) -> str:
    try:
        return checked_id(request.match_info[name])
    except RecorderError as exc:
        raise web.HTTPBadRequest(
            text=f'{{"error": {{"code": "{exc.code}", "message": "bad {name}"}}}}',
            content_type="application/json") from exc


def _service(request: web.Request) -> RecordingService:
    return request.app[RECORDING]


def _summary(service: RecordingService, session: str) -> dict[str, Any]:
    files = service.recorder.open(session)
    try:
        return {**files.info(), "tracks": files.tracks()}
    finally:
        files.close()


async def list_recordings(request: web.Request) -> web.Response:
    service = _service(request)
    out = []
    for session in service.recorder.sessions():
        try:
            out.append(await asyncio.to_thread(_summary, service, session))
        except RecorderError:
            continue  # erased meanwhile
    return web.json_response({"recordings": out, "recovered": service.recovered})


async def get_recording(request: web.Request) -> web.Response:
    service = _service(request)
    session = _id(request, "session")

    def read() -> dict[str, Any]:
        files = service.recorder.open(session)
        try:
            return {**files.info(), "tracks": files.tracks(),
                    "manifest": files.manifest_lines(), "timeline": files.timeline_lines()}
        finally:
            files.close()

    try:
        body = await asyncio.to_thread(read)
        service.recorder.accessed(session, "manifest", "admin")
        return web.json_response(body)
    except RecorderError as exc:
        return _error(404 if exc.code is RecorderCode.NOT_FOUND else 410, exc.code, exc.message)


async def get_track(request: web.Request) -> web.Response:
    service = _service(request)
    session, track = _id(request, "session"), _id(request, "track")

    try:
        body = await service.final_track(session, track)
        service.recorder.accessed(session, f"track:{track}", "admin")
    except FileNotFoundError:
        return _error(404, "track_not_found", "no finalized track of that name")
    except RecorderError as exc:
        return _error(404 if exc.code is RecorderCode.NOT_FOUND else 410, exc.code, exc.message)
    return web.Response(body=body, content_type="video/webm",
                        headers={"Cache-Control": "no-store"})


async def delete_recording(request: web.Request) -> web.Response:
    service = _service(request)
    session = _id(request, "session")
    if any(r.session == session for r in service.active.values()):
        return _error(409, "recording_active", "stop the recording first")
    if not await service.erase_session(session, "admin_request"):
        return _error(404, RecorderCode.NOT_FOUND, "no such recording")
    return web.Response(status=204)


async def erase_participant(request: web.Request) -> web.Response:
    service = _service(request)
    pseudonym = _id(request, "pseudonym")
    if any(pseudonym in r.recorded() for r in service.active.values()):
        return _error(409, "recording_active", "stop recording that participant's room first")
    sessions = await service.erase_participant(pseudonym, "admin_request")
    return web.json_response({"erased_from": sessions})


async def purge(request: web.Request) -> web.Response:
    expired = await _service(request).purge()
    return web.json_response({"purged": expired})


async def start_recording(request: web.Request) -> web.Response:
    service = _service(request)
    room = _id(request, "room_id")
    hub = request.app[NODE].hubs.get(RoomId(room))
    if hub is None:
        return _error(404, "room_not_found", "no such room")
    try:
        body = StartRecording.model_validate(await request.json() if request.can_read_body
                                             else {})
    except (ValueError, ValidationError) as exc:
        return _error(400, "invalid_request", str(exc)[:300])
    default = service.default_policy()
    policy = RoomPolicy(body.policy or default.mode,
                        default.learner_video if body.learner_video is None
                        else body.learner_video)
    if policy.mode is Policy.OFF:
        return _error(409, "policy_off", "the room's recording policy is off")
    recording = service.start(hub, policy)
    return web.json_response({"session": recording.session, "recorded": recording.recorded()},
                             status=201)


async def stop_recording(request: web.Request) -> web.Response:
    service = _service(request)
    hub = request.app[NODE].hubs.get(RoomId(_id(request, "room_id")))
    if hub is None or not await service.stop(hub):
        return _error(404, RecorderCode.NOT_RECORDING, "the room is not being recorded")
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/recordings", list_recordings)
    app.router.add_post("/v1/recordings/purge", purge)
    app.router.add_get("/v1/recordings/{session}", get_recording)
    app.router.add_get("/v1/recordings/{session}/tracks/{track}", get_track)
    app.router.add_delete("/v1/recordings/{session}", delete_recording)
    app.router.add_delete("/v1/participants/{pseudonym}/recordings", erase_participant)
    app.router.add_post("/v1/rooms/{room_id}/recording", start_recording)
    app.router.add_delete("/v1/rooms/{room_id}/recording", stop_recording)
