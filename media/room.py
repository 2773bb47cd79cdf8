"""Room membership, grants and publications (sans-IO: time passed in, events returned)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import ErrorCode, MediaError
from .ids import Identity, Kind, LeaveReason, PublicationId, Role, RoomId


@dataclass(frozen=True, slots=True)
class Grants:
    publish: bool = True
    subscribe: bool = True


@dataclass(slots=True)
class Publication:
    """One incoming track of a participant."""

    id: PublicationId
    owner: Identity
    kind: Kind
    muted: bool = False


class Presence(StrEnum):
    ACTIVE = "active"
    RECONNECTING = "reconnecting"  # seat held for the grace period


@dataclass(slots=True)
class Participant:
    identity: Identity
    name: str
    role: Role
    grants: Grants
    joined_at: float
    publications: dict[Kind, Publication] = field(default_factory=dict)
    presence: Presence = Presence.ACTIVE
    reconnecting_since: float | None = None
    unloaded: bool = False  # its page went away (closed or reloading): held only briefly


# Domain events: what the others in the room are told.
@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    participant: Participant


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    identity: Identity
    reason: LeaveReason


@dataclass(frozen=True, slots=True)
class ParticipantReconnecting:
    identity: Identity


@dataclass(frozen=True, slots=True)
class ParticipantResumed:
    identity: Identity


@dataclass(frozen=True, slots=True)
class TrackPublished:
    publication: Publication


@dataclass(frozen=True, slots=True)
class TrackUnpublished:
    publication: Publication


@dataclass(frozen=True, slots=True)
class TrackMuted:
    publication: Publication
    muted: bool


RoomEvent = (
    ParticipantJoined | ParticipantLeft | ParticipantReconnecting | ParticipantResumed
    | TrackPublished | TrackUnpublished | TrackMuted
)


class Room:
    """One session. Everyone with the subscribe grant receives every other publication."""

    def __init__(
        self,
        room_id: RoomId,
        *,
        max_participants: int,
        empty_grace: float,
        now: float,
        reconnect_grace: float = 60.0,
        unload_grace: float = 5.0,
    ) -> None:
        self.id = room_id
        self.max_participants = max_participants
        self.empty_grace = empty_grace
        self.reconnect_grace = reconnect_grace
        self.unload_grace = unload_grace
        self.created_at = now
        self.closed = False
        self.participants: dict[Identity, Participant] = {}
        self._empty_since: float | None = now

    def __iter__(self) -> Iterator[Participant]:
        return iter(self.participants.values())

    def __len__(self) -> int:
        return len(self.participants)

    def get(self, identity: Identity) -> Participant:
        participant = self.participants.get(identity)
        if participant is None:
            raise MediaError(ErrorCode.NOT_IN_ROOM, f"{identity} is not in room {self.id}")
        return participant

    def join(
        self, identity: Identity, name: str, role: Role, grants: Grants, now: float
    ) -> list[RoomEvent]:
        """Seat a participant, or give a held seat back to its identity.

        The same identity again (a reconnect, a reload, a second tab) takes its seat over:
        publications stay, and the room hears `ParticipantResumed` if the seat was held as
        reconnecting, nothing otherwise. Nobody ever sees the identity twice.
        """
        if self.closed:
            raise MediaError(ErrorCode.ROOM_CLOSED, f"room {self.id} is closed")
        seated = self.participants.get(identity)
        if seated is not None:
            seated.name, seated.role, seated.grants = name, role, grants
            return self.resume(identity)
        if len(self.participants) >= self.max_participants:
            raise MediaError(
                ErrorCode.ROOM_FULL, f"room {self.id} is full ({self.max_participants})"
            )
        participant = Participant(identity, name, role, grants, joined_at=now)
        self.participants[identity] = participant
        self._empty_since = None
        return [ParticipantJoined(participant)]

    def mark_reconnecting(self, identity: Identity, now: float) -> list[RoomEvent]:
        """The participant's connection went quiet: hold the seat, tell the room."""
        participant = self.participants.get(identity)
        if participant is None or participant.presence is Presence.RECONNECTING:
            return []
        participant.presence = Presence.RECONNECTING
        participant.reconnecting_since = now
        return [ParticipantReconnecting(identity)]

    def resume(self, identity: Identity) -> list[RoomEvent]:
        participant = self.get(identity)
        if participant.presence is Presence.ACTIVE:
            return []
        participant.presence = Presence.ACTIVE
        participant.reconnecting_since = None
        participant.unloaded = False
        return [ParticipantResumed(identity)]

    def mark_unloaded(self, identity: Identity, now: float) -> list[RoomEvent]:
        """The participant's page went away (`leave {unload}`): a closed tab or a reload,
        which it cannot tell apart. Hold the seat for `unload_grace` only: a reload takes
        it back at once, a closed tab is freed as left."""
        participant = self.participants.get(identity)
        if participant is None:
            return []
        events = self.mark_reconnecting(identity, now)
        participant.reconnecting_since = now
        participant.unloaded = True
        return events

    def expired_seats(self, now: float) -> list[Identity]:
        """Participants whose reconnect (or unload) grace period has run out."""
        return [
            p.identity for p in self.participants.values()
            if p.reconnecting_since is not None
            and now - p.reconnecting_since
            >= (self.unload_grace if p.unloaded else self.reconnect_grace)
        ]

    def leave(self, identity: Identity, reason: LeaveReason, now: float) -> list[RoomEvent]:
        participant = self.participants.pop(identity, None)
        if participant is None:
            return []
        events: list[RoomEvent] = [
            TrackUnpublished(p) for p in participant.publications.values()
        ]
        participant.publications.clear()
        events.append(ParticipantLeft(identity, reason))
        if not self.participants:
            self._empty_since = now
        return events

    def may_publish(self, identity: Identity) -> Participant:
        """The participant, if its grants let it publish; a coded refusal otherwise."""
        participant = self.get(identity)
        if not participant.grants.publish:
            raise MediaError(ErrorCode.PUBLISH_NOT_ALLOWED, f"{identity} may not publish")
        return participant

    def publish(self, identity: Identity, kinds: list[Kind]) -> list[RoomEvent]:
        """Make the participant's publications exactly one per kind in `kinds`.

        A kind published again (a re-publish after a reconnect) keeps its publication and
        its mute state, and nobody is told anything: the stream just continues.
        """
        participant = self.may_publish(identity)
        if not kinds or len(set(kinds)) != len(kinds):
            raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, "publish one audio and/or one video")
        events: list[RoomEvent] = []
        for kind in [k for k in participant.publications if k not in kinds]:
            events.append(TrackUnpublished(participant.publications.pop(kind)))
        for kind in kinds:
            if kind not in participant.publications:
                publication = Publication(PublicationId(f"{identity}:{kind}"), identity, kind)
                participant.publications[kind] = publication
                events.append(TrackPublished(publication))
        return events

    def unpublish(self, identity: Identity) -> list[RoomEvent]:
        participant = self.get(identity)
        events: list[RoomEvent] = [
            TrackUnpublished(p) for p in participant.publications.values()
        ]
        participant.publications.clear()
        return events

    def set_muted(self, identity: Identity, kind: Kind, muted: bool) -> list[RoomEvent]:
        publication = self.get(identity).publications.get(kind)
        if publication is None:
            raise MediaError(ErrorCode.NOT_PUBLISHED, f"{identity} publishes no {kind}")
        if publication.muted == muted:
            return []
        publication.muted = muted
        return [TrackMuted(publication, muted)]

    def subscribers_of(self, publisher: Identity) -> list[Participant]:
        return [
            p for p in self.participants.values()
            if p.identity != publisher and p.grants.subscribe
        ]

    def publishers_for(self, subscriber: Identity) -> list[Participant]:
        if not self.get(subscriber).grants.subscribe:
            return []
        return [
            p for p in self.participants.values()
            if p.identity != subscriber and p.publications
        ]

    def should_close(self, now: float) -> bool:
        """An empty room closes after its grace period."""
        return self._empty_since is not None and now - self._empty_since >= self.empty_grace

    def close(self, now: float) -> list[RoomEvent]:
        events: list[RoomEvent] = []
        for identity in list(self.participants):
            events += self.leave(identity, LeaveReason.ROOM_CLOSED, now)
        self.closed = True
        return events
