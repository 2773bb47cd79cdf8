"""The pure parts of the room events: shaping (pseudonym and role, never a name), stream
ids and where a consumer resumes, SSE framing, and the embedded (memory) log."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from media import room as domain
from media.ids import Identity, Kind, LeaveReason, PublicationId, Role, RoomId
from media.room import Grants
from signalling.event_stream import (
    ZERO,
    Entry,
    MemoryEventLog,
    StreamId,
    resume_point,
    sse_comment,
    sse_frame,
)
from signalling.room_events import EventType, RoomEventSink, event_type_of, shape

ROOM = RoomId("lesson-1")
NAME = "Alice Example"


def participant(identity: str, role: Role = Role.LEARNER) -> domain.Participant:
    return domain.Participant(Identity(identity), NAME, role, Grants(), joined_at=0.0)


def test_a_joined_participant_is_shaped_by_pseudonym_and_role_never_by_name() -> None:
    shaped = shape(domain.ParticipantJoined(participant("p-1", Role.TUTOR)), {})
    assert shaped == (EventType.PARTICIPANT_JOINED, {"participant": "p-1", "role": "tutor"})
    assert NAME not in json.dumps(shaped)


def test_leave_resume_and_mute_carry_the_seated_role_and_what_changed() -> None:
    roles = {Identity("p-1"): Role.LEARNER}
    left = shape(domain.ParticipantLeft(Identity("p-1"), LeaveReason.LEFT), roles)
    assert left == (EventType.PARTICIPANT_LEFT,
                    {"participant": "p-1", "role": "learner", "reason": "left"})
    assert shape(domain.ParticipantResumed(Identity("p-1")), roles) == (
        EventType.PARTICIPANT_RESUMED, {"participant": "p-1", "role": "learner"})
    publication = domain.Publication(PublicationId("p-1:audio"), Identity("p-1"), Kind.AUDIO)
    assert shape(domain.TrackMuted(publication, True), roles) == (
        EventType.TRACK_MUTED, {"participant": "p-1", "kind": "audio", "muted": True})
    assert shape(domain.TrackPublished(publication), roles) is None


def test_the_sink_tells_a_rooms_story_in_order_and_a_moved_room_does_not_close() -> None:
    published: list[tuple[RoomId, dict[str, Any]]] = []
    sink = RoomEventSink("node-a", lambda room, raw: published.append((room, json.loads(raw))),
                         wall=lambda: 1700000000.1234)
    hub: Any = SimpleNamespace(id=ROOM, room=SimpleNamespace(max_participants=4),
                               on_events=[])
    sink.room_opened(hub)
    hub.on_events[0]([domain.ParticipantJoined(participant("p-1")),
                      domain.ParticipantJoined(participant("p-2", Role.TUTOR))])
    recording: Any = SimpleNamespace(session="session-1")
    sink.recording_started(ROOM, recording)
    hub.on_events[0]([domain.ParticipantLeft(Identity("p-1"), LeaveReason.LEFT)])
    sink.recording_stopped(ROOM, recording)
    asyncio.run(sink.room_closed(hub, LeaveReason.ROOM_CLOSED))
    events = [e for _, e in published]
    assert [e["type"] for e in events] == [
        "room_started", "participant_joined", "participant_joined", "recording_started",
        "participant_left", "recording_stopped", "participant_left", "room_closed"]
    assert events[0] == {"type": "room_started", "room": ROOM, "node": "node-a",
                         "at": 1700000000.123, "max_participants": 4}
    assert events[3]["session"] == events[5]["session"] == "session-1"
    assert events[6] == {"type": "participant_left", "room": ROOM, "node": "node-a",
                         "at": 1700000000.123, "participant": "p-2", "role": "tutor",
                         "reason": "room_closed"}
    assert NAME not in json.dumps(published)
    published.clear()
    sink.room_opened(hub)
    sink.room_moved(ROOM, None)
    asyncio.run(sink.room_closed(hub, LeaveReason.SERVER_SHUTDOWN))
    assert [e["type"] for _, e in published] == ["room_started", "room_moved"]


def test_a_failing_publish_never_reaches_the_room() -> None:
    def broken(room: RoomId, raw: str) -> None:
        raise ConnectionError("down")

    RoomEventSink("n", broken).room_moved(ROOM, None)  # logged, not raised


def test_stream_ids_parse_order_and_print_as_redis_does() -> None:
    assert StreamId.parse("1700000000123-7") == StreamId(1700000000123, 7)
    assert StreamId.parse("0") == ZERO and str(ZERO) == "0-0"
    assert StreamId(5, 0) < StreamId(5, 1) < StreamId(6, 0)
    for bad in ("", "abc", "1-2-3", "-1", "1-", "1 2", "9" * 20, "1\n2"):
        with pytest.raises(ValueError):
            StreamId.parse(bad)


def test_last_event_id_wins_over_after_and_neither_means_live() -> None:
    assert resume_point("5-1", "0") == StreamId(5, 1)
    assert resume_point(None, "0") == ZERO
    assert resume_point("", "7") == StreamId(7, 0)
    assert resume_point(None, None) is None
    with pytest.raises(ValueError):
        resume_point(None, "x")


def test_sse_frames_carry_the_id_the_type_and_one_data_line_per_line() -> None:
    entry = Entry(StreamId(12, 3), '{"type":"room_closed"}')
    assert sse_frame(entry, event_type_of(entry.event)) == (
        b'id: 12-3\nevent: room_closed\ndata: {"type":"room_closed"}\n\n')
    assert sse_frame(Entry(ZERO, "a\nb"), "x") == b"id: 0-0\nevent: x\ndata: a\ndata: b\n\n"
    assert sse_comment("keep\nalive") == b": keep alive\n\n"
    assert event_type_of("not json") == "message"
    assert event_type_of('{"type": "a b"}') == "message"  # never breaks the frame


async def test_the_memory_log_keeps_the_last_n_with_increasing_ids_and_wakes_readers() -> None:
    walls = iter([10.0, 10.0, 9.0, 11.0] + [12.0] * 20)
    log = MemoryEventLog(maxlen=3, wall=lambda: next(walls))
    ids = [await log.append(ROOM, f"e{i}") for i in range(4)]
    assert ids == [StreamId(10000, 0), StreamId(10000, 1), StreamId(10000, 2),
                   StreamId(11000, 0)]  # the wall stepped back: the sequence goes on
    kept = await log.read(ROOM, ZERO, block_s=0)
    assert [e.event for e in kept] == ["e1", "e2", "e3"]  # trimmed to 3
    assert [e.event for e in await log.read(ROOM, ids[2], block_s=0)] == ["e3"]
    assert await log.read(ROOM, ids[3], block_s=0.05) == []  # waited, nothing came
    reader = asyncio.ensure_future(log.read(ROOM, ids[3], block_s=5.0))
    await asyncio.sleep(0.01)
    await log.append(ROOM, "e4")
    woken = await asyncio.wait_for(reader, 1.0)
    assert [e.event for e in woken] == ["e4"]
    assert (await log.last(ROOM)) == woken[0]
    assert await log.last(RoomId("other")) is None
