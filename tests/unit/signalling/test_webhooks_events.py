"""What the reporter makes of the node's hooks: a resumed seat is not a new join, those
still seated when a room closes leave with its reason, names never appear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from media.ids import Identity, LeaveReason, Role, RoomId
from media.peer import PeerConfig
from signalling.node import Node
from signalling.tokens import mint, verify
from signalling.webhooks_events import EventType, ProgressReporter
from tests.conftest import SECRET, node_settings


def claims(identity: str, role: Role) -> Any:
    token = mint(SECRET, room="r", identity=identity, role=role, name=f"Name of {identity}")
    return verify(SECRET, token, room="r")


async def test_joins_leaves_and_the_rooms_end_as_reported(tmp_path: Path) -> None:
    node = Node(node_settings(tmp_path), PeerConfig())
    events: list[tuple[EventType, dict[str, Any]]] = []
    ProgressReporter(node, None, lambda t, d: events.append((t, d)),
                     wall=lambda: 1000.0).attach()
    hub = node.create_room(RoomId("r"))
    tutor, learner = claims("t-1", Role.TUTOR), claims("l-2", Role.LEARNER)
    for who in (tutor, learner, tutor):  # the tutor's second join: a reconnect
        for observe in hub.on_join:
            observe(who)
    for leave in hub.on_leave:
        leave(Identity("l-2"), LeaveReason.DISCONNECTED)
        leave(Identity("l-2"), LeaveReason.LEFT)  # not seated any more: nothing
    assert await node.close_room(RoomId("r"), LeaveReason.ROOM_CLOSED)
    assert [t for t, _ in events] == [
        EventType.ROOM_STARTED, EventType.PARTICIPANT_JOINED, EventType.PARTICIPANT_JOINED,
        EventType.PARTICIPANT_LEFT, EventType.PARTICIPANT_LEFT, EventType.ROOM_FINISHED]
    left = [(d["participant"], d["reason"]) for t, d in events
            if t is EventType.PARTICIPANT_LEFT]
    assert left == [("l-2", "disconnected"), ("t-1", "room_closed")]
    finished = events[-1][1]
    assert finished["participants"] == [{"participant": "t-1", "role": "tutor"},
                                        {"participant": "l-2", "role": "learner"}]
    assert finished["sessions"] == [] and finished["reason"] == "room_closed"
    assert "Name of" not in repr(events)


async def test_a_failing_sink_never_fails_the_node(tmp_path: Path) -> None:
    node = Node(node_settings(tmp_path), PeerConfig())

    def broken(event_type: EventType, data: dict[str, Any]) -> None:
        raise OSError("disk full")

    ProgressReporter(node, None, broken).attach()
    hub = node.create_room(RoomId("r"))
    for join in hub.on_join:
        join(claims("t-1", Role.TUTOR))
    assert await node.close_room(RoomId("r"), LeaveReason.ROOM_CLOSED)
