"""The admin API for sessions (behind the API key, like the rest of /v1).

    GET  /v1/sessions                         every recorded session, summarized
    GET  /v1/sessions/{session}               one session's summary (recorder.summary)
    POST /v1/sessions/{session}/review-tokens a reviewer token for that session

A session is a recording session (`YYYYmmddTHHMMSS-<8 hex>`); ids in paths must be
`[A-Za-z0-9_-]{1,64}` (400 otherwise). A session still recording is summarized with the
node's live figures (its talk spans still open).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from recorder.errors import RecorderCode, RecorderError
from recorder.summaries import load_summary
from recorder.summary import SessionSummary

from .api import _body
from .keys import NODE
from .protocol import WireId
from .recording import RECORDING, RecordingService
from .recordings_api import _error, _id
from .review_tokens import DEFAULT_REVIEW_TTL_S, MAX_REVIEW_TTL_S, mint_review
from .talk import TALK


class CreateReviewToken(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    identity: WireId  # the reviewer's pseudonym, as it will appear in the audit log
    ttl_s: int = Field(DEFAULT_REVIEW_TTL_S, ge=10, le=MAX_REVIEW_TTL_S)


async def summary_of(app: web.Application, session: str) -> SessionSummary:
    """RecorderError NOT_FOUND if there is no such session."""
    service: RecordingService = app[RECORDING]
    now_at = live = None
    for room_id, recording in service.active.items():
        if recording.session == session:
            now_at = recording.at()
            live = app[TALK].open_talk(room_id, since=recording.start)
    return await asyncio.to_thread(load_summary, service.recorder.root, session,
                                   now_at=now_at, live_talk=live)


async def list_sessions(request: web.Request) -> web.Response:
    out = []
    for session in request.app[RECORDING].recorder.sessions():
        try:
            s = await summary_of(request.app, session)
        except (RecorderError, OSError, ValueError):
            continue  # erased meanwhile, or torn
        out.append({"session": s.session, "room": s.room, "started_at": s.started_at,
                    "duration_s": s.duration_s, "status": s.status,
                    "participants": len(s.participants), "talk_s": s.talk_s,
                    "tutor_share": s.tutor_share})
    return web.json_response({"sessions": out})


async def get_session(request: web.Request) -> web.Response:
    session = _id(request, "session")
    try:
        summary = await summary_of(request.app, session)
    except RecorderError as exc:
        return _error(404 if exc.code is RecorderCode.NOT_FOUND else 410, exc.code, exc.message)
    return web.json_response(summary.model_dump(mode="json"))


async def create_review_token(request: web.Request) -> web.Response:
    session = _id(request, "session")
    body = await _body(request, CreateReviewToken)
    service: RecordingService = request.app[RECORDING]
    if session not in service.recorder.sessions():
        return _error(404, RecorderCode.NOT_FOUND, "no such session")
    node = request.app[NODE]
    token = mint_review(node.secret, session=session, identity=body.identity,
                        ttl_s=body.ttl_s)
    base = node.settings.base_url()
    return web.json_response({"token": token, "ttl_s": body.ttl_s,
                              "review_url": f"{base}/review/{session}?token={token}"},
                             status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/sessions", list_sessions)
    app.router.add_get("/v1/sessions/{session}", get_session)
    app.router.add_post("/v1/sessions/{session}/review-tokens", create_review_token)
