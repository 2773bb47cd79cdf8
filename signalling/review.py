"""Reviewer access to one recorded session, served by the node (outside /v1: a reviewer
has a reviewer token, not the API key).

    GET /review/{session}                    the replay page (sets the token cookie)
    GET /review/{session}/summary            summary, timeline and track names (JSON)
    GET /review/{session}/tracks/{track}     a finalized track, decrypted, with Range

The token (`signalling.review_tokens`) comes as `Authorization: Bearer`, the
`liveroom_review` cookie the page set (a <video> cannot send a header) or `?token=`.
Every access, granted or refused, is appended to `<data dir>/review-audit.jsonl`
(one fsynced JSON line: when, who, which session, what, the outcome). Media is decrypted
in memory only (`RecordingService.final_track`, the admin playback's path); the storage
folder is never listed or served.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from recorder.errors import RecorderCode, RecorderError
from recorder.ids import checked_id
from recorder.journal import Journal, read_lines

from .byte_range import Unsatisfiable, byte_range
from .errors import SignalCode, SignalError
from .keys import NODE
from .pages import PAGE_HEADERS, STATIC_DIR
from .recording import RECORDING
from .review_tokens import ReviewClaims, verify_review
from .sessions_api import summary_of

log = structlog.get_logger(__name__)

AUDIT_FILE = "review-audit.jsonl"
COOKIE = "liveroom_review"
PAGE = "replay.html"
CACHE_BYTES = 256 * 1024 * 1024  # decrypted tracks kept for the range requests that follow
CACHE_TTL_S = 120.0
MEDIA_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "no-referrer", "Accept-Ranges": "bytes"}
REFUSED_STATUS = {SignalCode.BAD_TOKEN: 401, SignalCode.TOKEN_EXPIRED: 401,
                  SignalCode.NOT_REVIEWER: 403, SignalCode.WRONG_SESSION: 403}


class ReviewAccess:
    def __init__(self, data_dir: Path) -> None:
        self.audit_path = data_dir / AUDIT_FILE
        self.journal: Journal | None = None
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()

    def open(self) -> None:
        self.journal = Journal(self.audit_path)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    async def audit(self, **record: Any) -> None:
        """One line on disk (fsynced) before the answer goes out."""
        assert self.journal is not None
        await asyncio.to_thread(self.journal.append, {"at": round(time.time(), 3), **record})

    def cached(self, key: tuple[str, str], now: float) -> bytes | None:
        for k in [k for k, (_, t) in self._cache.items() if now - t > CACHE_TTL_S]:
            del self._cache[k]
        entry = self._cache.get(key)
        return entry[0] if entry else None

    def keep(self, key: tuple[str, str], body: bytes, now: float) -> None:
        self._cache[key] = (body, now)
        while sum(len(b) for b, _ in self._cache.values()) > CACHE_BYTES and self._cache:
            self._cache.popitem(last=False)


REVIEW: web.AppKey[ReviewAccess] = web.AppKey("review")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status,
                             headers={"Cache-Control": "no-store"})


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.cookies.get(COOKIE) or request.query.get("token", "")


async def _admit(request: web.Request, what: str) -> tuple[str, ReviewClaims] | web.Response:
    """The session id and the token's claims, or the refusal (audited)."""
    access = request.app[REVIEW]
    try:
        session = checked_id(request.match_info["session"])
        if "track" in request.match_info:
            checked_id(request.match_info["track"])
    except RecorderError:
        await access.audit(by=None, session=None, what=what, refused=RecorderCode.BAD_ID)
        return _error(400, RecorderCode.BAD_ID, "ids are 1-64 of A-Z a-z 0-9 _ -")
    try:
        claims = verify_review(request.app[NODE].secret, _token(request), session=session)
    except SignalError as exc:
        await access.audit(by=None, session=session, what=what, refused=exc.code)
        return _error(REFUSED_STATUS.get(SignalCode(exc.code), 401), exc.code, exc.message)
    return session, claims


async def replay_page(request: web.Request) -> web.StreamResponse:
    admitted = await _admit(request, "page")
    if isinstance(admitted, web.Response):
        return admitted
    session, claims = admitted
    await request.app[REVIEW].audit(by=claims.sub, session=session, what="page")
    page = STATIC_DIR / PAGE
    body = page.read_text(encoding="utf-8") if page.exists() else "<!doctype html><title>Replay"
    response = web.Response(text=body, content_type="text/html",
                            headers={**PAGE_HEADERS, "Permissions-Policy": "camera=(), "
                                     "microphone=()"})
    response.set_cookie(COOKIE, _token(request), path=f"/review/{session}", httponly=True,
                        samesite="Strict", secure=request.secure,
                        max_age=max(0, claims.exp - int(time.time())))
    return response


async def review_summary(request: web.Request) -> web.Response:
    admitted = await _admit(request, "summary")
    if isinstance(admitted, web.Response):
        return admitted
    session, claims = admitted
    service = request.app[RECORDING]
    try:
        summary = await summary_of(request.app, session)
        timeline = await asyncio.to_thread(_timeline, service.recorder.root, session)
    except RecorderError as exc:
        await request.app[REVIEW].audit(by=claims.sub, session=session, what="summary",
                                        refused=exc.code)
        return _error(404 if exc.code is RecorderCode.NOT_FOUND else 410, exc.code, exc.message)
    await request.app[REVIEW].audit(by=claims.sub, session=session, what="summary")
    return web.json_response({"summary": summary.model_dump(mode="json"),
                              "timeline": timeline}, headers={"Cache-Control": "no-store"})


def _timeline(root: Path, session: str) -> list[dict[str, Any]]:
    return read_lines(root / session / "timeline.jsonl")


async def review_track(request: web.Request) -> web.StreamResponse:
    what = f"track:{request.match_info['track']}"[:80]
    admitted = await _admit(request, what)
    if isinstance(admitted, web.Response):
        return admitted
    session, claims = admitted
    track = request.match_info["track"]
    access = request.app[REVIEW]
    now = time.monotonic()
    body = access.cached((session, track), now)
    if body is None:
        try:
            body = await request.app[RECORDING].final_track(session, track)
        except FileNotFoundError:
            await access.audit(by=claims.sub, session=session, what=what,
                               refused="track_not_found")
            return _error(404, "track_not_found", "no finalized track of that name")
        except RecorderError as exc:
            await access.audit(by=claims.sub, session=session, what=what, refused=exc.code)
            return _error(404 if exc.code is RecorderCode.NOT_FOUND else 410, exc.code,
                          exc.message)
        access.keep((session, track), body, now)
    kind = "audio" if track.endswith("-audio") else "video"
    headers = {**MEDIA_HEADERS, "Content-Type": f"{kind}/webm"}
    size = len(body)
    try:
        wanted = byte_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        await access.audit(by=claims.sub, session=session, what=what, range="unsatisfiable",
                           status=416)
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        await access.audit(by=claims.sub, session=session, what=what, range="all",
                           bytes=size, status=200)
        return web.Response(body=body, headers=headers)
    first, last = wanted
    await access.audit(by=claims.sub, session=session, what=what, range=f"{first}-{last}",
                       bytes=last - first + 1, status=206)
    return web.Response(status=206, body=body[first:last + 1],
                        headers={**headers, "Content-Range": f"bytes {first}-{last}/{size}"})


def setup(app: web.Application) -> None:
    app[REVIEW] = ReviewAccess(app[NODE].settings.data_dir)
    app.router.add_get("/review/{session}", replay_page)
    app.router.add_get("/review/{session}/summary", review_summary)
    app.router.add_get("/review/{session}/tracks/{track}", review_track)
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    app[REVIEW].open()
    yield
    app[REVIEW].close()
