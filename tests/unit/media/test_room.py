"""Room membership and grants, with no event loop."""

from __future__ import annotations

import pytest

from media.errors import ErrorCode, MediaError
from media.ids import Identity, Kind, LeaveReason, Role, RoomId
from media.room import (
    Grants,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantReconnecting,
    ParticipantResumed,
    Presence,
    Room,
    TrackMuted,
    TrackPublished,
    TrackUnpublished,
)

BOTH = Grants(publish=True, subscribe=True)


def room(size: int = 3) -> Room:
    return Room(RoomId("r"), max_participants=size, empty_grace=30.0, now=0.0)


def I(name: str) -> Identity:  # noqa: E743
    return Identity(name)


def test_join_publish_and_who_receives_what() -> None:
    r = room()
    assert isinstance(r.join(I("tutor"), "T", Role.TUTOR, BOTH, 1.0)[0], ParticipantJoined)
    r.join(I("a"), "A", Role.LEARNER, BOTH, 1.0)
    r.join(I("obs"), "O", Role.OBSERVER, Grants(publish=False, subscribe=True), 1.0)
    events = r.publish(I("tutor"), [Kind.AUDIO, Kind.VIDEO])
    assert [type(e) for e in events] == [TrackPublished, TrackPublished]
    assert {p.identity for p in r.subscribers_of(I("tutor"))} == {"a", "obs"}
    assert [p.identity for p in r.publishers_for(I("obs"))] == ["tutor"]
    assert r.publishers_for(I("tutor")) == []


def test_a_full_room_refuses_and_stays_as_it_was() -> None:
    r = room(2)
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    r.join(I("b"), "", Role.LEARNER, BOTH, 0.0)
    with pytest.raises(MediaError) as refused:
        r.join(I("c"), "", Role.LEARNER, BOTH, 0.0)
    assert refused.value.code is ErrorCode.ROOM_FULL
    assert set(r.participants) == {"a", "b"}


def test_the_same_identity_takes_its_seat_over_silently() -> None:
    r = room(2)
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    r.join(I("b"), "", Role.LEARNER, BOTH, 0.0)
    r.publish(I("b"), [Kind.VIDEO])
    assert r.join(I("b"), "B2", Role.LEARNER, BOTH, 1.0) == []  # a full room lets b back
    assert len(r) == 2 and r.get(I("b")).name == "B2"
    assert set(r.get(I("b")).publications) == {Kind.VIDEO}  # its publication continues


def test_a_reconnecting_seat_is_held_then_given_back_or_expires() -> None:
    r = room(2)
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    r.join(I("b"), "", Role.LEARNER, BOTH, 0.0)
    assert r.mark_reconnecting(I("b"), 10.0) == [ParticipantReconnecting(I("b"))]
    assert r.mark_reconnecting(I("b"), 11.0) == []  # told once
    assert r.get(I("b")).presence is Presence.RECONNECTING
    with pytest.raises(MediaError):  # the held seat still counts
        r.join(I("c"), "", Role.LEARNER, BOTH, 12.0)
    assert r.expired_seats(69.9) == []
    assert r.join(I("b"), "", Role.LEARNER, BOTH, 30.0) == [ParticipantResumed(I("b"))]
    assert r.get(I("b")).presence is Presence.ACTIVE
    r.mark_reconnecting(I("b"), 40.0)
    assert r.expired_seats(100.0) == [I("b")]
    assert isinstance(r.leave(I("b"), LeaveReason.DISCONNECTED, 100.0)[-1], ParticipantLeft)
    assert r.mark_reconnecting(I("b"), 101.0) == []


def test_an_unloaded_page_holds_its_seat_briefly_and_a_reload_takes_it_back() -> None:
    r = room(2)
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    r.join(I("b"), "", Role.LEARNER, BOTH, 0.0)
    assert r.mark_unloaded(I("b"), 10.0) == [ParticipantReconnecting(I("b"))]
    assert r.mark_reconnecting(I("b"), 11.0) == []  # the socket's close changes nothing
    assert r.expired_seats(14.9) == []
    assert r.expired_seats(15.0) == [I("b")]  # unload grace (5 s), not the reconnect grace
    assert r.join(I("b"), "", Role.LEARNER, BOTH, 12.0) == [ParticipantResumed(I("b"))]
    assert not r.get(I("b")).unloaded  # a reload took it back: the full grace again
    r.mark_reconnecting(I("b"), 20.0)
    assert r.expired_seats(30.0) == []
    assert r.mark_unloaded(I("b"), 31.0) == []  # already reconnecting: now held briefly
    assert r.expired_seats(36.0) == [I("b")]


def test_publishing_needs_the_grant() -> None:
    r = room()
    r.join(I("obs"), "", Role.OBSERVER, Grants(publish=False, subscribe=True), 0.0)
    with pytest.raises(MediaError) as refused:
        r.publish(I("obs"), [Kind.VIDEO])
    assert refused.value.code is ErrorCode.PUBLISH_NOT_ALLOWED
    with pytest.raises(MediaError):
        r.publish(I("ghost"), [Kind.VIDEO])


def test_mute_is_told_once_and_needs_a_publication() -> None:
    r = room()
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    with pytest.raises(MediaError) as refused:
        r.set_muted(I("a"), Kind.AUDIO, True)
    assert refused.value.code is ErrorCode.NOT_PUBLISHED
    r.publish(I("a"), [Kind.AUDIO])
    events = r.set_muted(I("a"), Kind.AUDIO, True)
    assert isinstance(events[0], TrackMuted) and events[0].muted
    assert r.set_muted(I("a"), Kind.AUDIO, True) == []


def test_leave_unpublishes_and_an_empty_room_closes_after_grace() -> None:
    r = room()
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    r.publish(I("a"), [Kind.AUDIO])
    assert not r.should_close(100.0)
    events = r.leave(I("a"), LeaveReason.LEFT, 100.0)
    assert [type(e) for e in events] == [TrackUnpublished, ParticipantLeft]
    assert not r.should_close(129.9)
    assert r.should_close(130.0)
    assert r.leave(I("a"), LeaveReason.LEFT, 131.0) == []


def test_a_closed_room_takes_no_one() -> None:
    r = room()
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    assert isinstance(r.close(1.0)[-1], ParticipantLeft)
    with pytest.raises(MediaError) as refused:
        r.join(I("b"), "", Role.LEARNER, BOTH, 2.0)
    assert refused.value.code is ErrorCode.ROOM_CLOSED


def test_publishing_the_same_kinds_again_keeps_publications_and_mute_quietly() -> None:
    r = room()
    r.join(I("a"), "", Role.TUTOR, BOTH, 0.0)
    r.publish(I("a"), [Kind.AUDIO, Kind.VIDEO])
    r.set_muted(I("a"), Kind.VIDEO, True)
    assert r.publish(I("a"), [Kind.AUDIO, Kind.VIDEO]) == []  # a resume re-publish
    assert r.get(I("a")).publications[Kind.VIDEO].muted
    events = r.publish(I("a"), [Kind.AUDIO])  # camera removed for good
    assert [type(e) for e in events] == [TrackUnpublished]
    assert set(r.get(I("a")).publications) == {Kind.AUDIO}
