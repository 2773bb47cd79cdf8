"""Progress events: what the node reports to the platform, from its hooks.

`ProgressReporter` is the event sink the node, its rooms and the recorder call (through
their hook lists: Node.room_opened / room_closed, RoomHub.on_join / on_leave,
RecordingService.ready / deleted); it hands each event to `emit(type, data)` and knows
nothing of HTTP. Participants appear by pseudonym and role only: never a display name,
never an address.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from media.ids import Identity, LeaveReason, RoomId
from recorder.errors import RecorderError
from recorder.session import read_info
from recorder.summaries import load_summary

from .hub import RoomHub
from .node import Node
from .recording import RecordingService
from .tokens import TokenClaims

log = structlog.get_logger(__name__)


class EventType(StrEnum):
    ROOM_STARTED = "room_started"
    ROOM_FINISHED = "room_finished"
    PARTICIPANT_JOINED = "participant_joined"
    PARTICIPANT_LEFT = "participant_left"
    RECORDING_READY = "recording_ready"
    RECORDING_DELETED = "recording_deleted"


def envelope(event_id: str, event_type: EventType, created_at: float,
             data: dict[str, Any]) -> bytes:
    """The body of every delivery of one event (the same bytes at each attempt)."""
    return json.dumps({"id": event_id, "type": str(event_type),
                       "created_at": round(created_at, 3), "data": data},
                      separators=(",", ":")).encode()


Emit = Callable[[EventType, dict[str, Any]], object]  # e.g. WebhookService.emit


@dataclass
class RoomProgress:
    started_at: float  # wall time
    opened_at: float  # node clock
    seated: dict[str, str] = field(default_factory=dict)  # pseudonym -> role, now
    seen: dict[str, str] = field(default_factory=dict)  # everyone who joined
    sessions: list[str] = field(default_factory=list)  # recordings finalized


class ProgressReporter:
    def __init__(self, node: Node, recording: RecordingService | None, emit: Emit,
                 wall: Callable[[], float] = time.time) -> None:
        self.node = node
        self.recording = recording
        self._emit = emit
        self.wall = wall
        self.rooms: dict[RoomId, RoomProgress] = {}

    def emit(self, event_type: EventType, data: dict[str, Any]) -> None:
        """A failure to report is logged, never the node's: a join or a close goes on."""
        try:
            self._emit(event_type, data)
        except Exception:
            log.exception("webhook_emit_failed", type=str(event_type))

    def attach(self) -> None:
        self.node.room_opened.append(self.room_opened)
        self.node.room_closed.append(self.room_finished)
        if self.recording is not None:
            self.recording.ready.append(self.recording_ready)
            self.recording.deleted.append(self.recording_deleted)

    def room_opened(self, hub: RoomHub) -> None:
        room = hub.id
        self.rooms[room] = RoomProgress(self.wall(), self.node.clock())
        hub.on_join.append(lambda claims: self.joined(room, claims))
        hub.on_leave.append(lambda identity, reason: self.left(room, identity, reason))
        self.emit(EventType.ROOM_STARTED,
                  {"room": room, "max_participants": hub.room.max_participants})

    def joined(self, room: RoomId, claims: TokenClaims) -> None:
        """A join; a resumed seat (reconnect, reload, second tab) is not a new one."""
        progress = self.rooms.get(room)
        if progress is None or claims.sub in progress.seated:
            return
        progress.seated[claims.sub] = progress.seen[claims.sub] = str(claims.role)
        self.emit(EventType.PARTICIPANT_JOINED,
                  {"room": room, "participant": claims.sub, "role": str(claims.role)})

    def left(self, room: RoomId, identity: Identity, reason: LeaveReason) -> None:
        progress = self.rooms.get(room)
        role = progress.seated.pop(identity, None) if progress is not None else None
        if role is not None:
            self.emit(EventType.PARTICIPANT_LEFT, {"room": room, "participant": identity,
                                                   "role": role, "reason": str(reason)})

    async def room_finished(self, hub: RoomHub, reason: LeaveReason) -> None:
        """After the room closed (its recording, if any, finalized): those still seated
        leave with the room's reason, then the room's summary."""
        progress = self.rooms.pop(hub.id, None)
        if progress is None:
            return
        for identity, role in list(progress.seated.items()):
            self.emit(EventType.PARTICIPANT_LEFT, {"room": hub.id, "participant": identity,
                                                   "role": role, "reason": str(reason)})
        sessions = []
        root = self.recording.recorder.root if self.recording is not None else Path()
        for session in progress.sessions:  # none unless the node records
            try:
                summary = await asyncio.to_thread(load_summary, root, session)
            except (RecorderError, OSError, ValueError):
                continue  # erased meanwhile, or torn
            sessions.append(summary.model_dump(mode="json"))
        self.emit(EventType.ROOM_FINISHED, {
            "room": hub.id, "reason": str(reason), "started_at": round(progress.started_at, 3),
            "finished_at": round(self.wall(), 3),
            "duration_s": round(self.node.clock() - progress.opened_at, 3),
            "participants": [{"participant": who, "role": role}
                             for who, role in progress.seen.items()],
            "sessions": sessions,
        })

    def recording_ready(self, session: str) -> None:
        """A recording was finalized (or recovered after a crash): it can be reviewed."""
        info = self._info(session)
        room = info.get("room")
        progress = self.rooms.get(RoomId(str(room))) if room is not None else None
        if progress is not None:
            progress.sessions.append(session)
        self.emit(EventType.RECORDING_READY, {
            "session": session, "room": room, "status": info.get("status"),
            "tracks": info.get("tracks", [])})

    def recording_deleted(self, session: str, reason: str, participant: str | None) -> None:
        """A session erased (`participant` None), or one participant's tracks in it."""
        self.emit(EventType.RECORDING_DELETED,
                  {"session": session, "reason": reason, "participant": participant})

    def _info(self, session: str) -> dict[str, Any]:
        if self.recording is None:
            return {}
        try:  # one small JSON file, once per recording
            return read_info(Path(self.recording.recorder.root) / session)
        except (OSError, ValueError):
            return {}
