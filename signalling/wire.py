"""Mapping between the media domain and wire models."""

from __future__ import annotations

from media import room as domain
from media.room import Participant, Publication, Room

from . import protocol as p


def publication_info(publication: Publication) -> p.PublicationInfo:
    return p.PublicationInfo(
        id=publication.id, owner=publication.owner, kind=publication.kind,
        muted=publication.muted,
    )


def participant_info(participant: Participant) -> p.ParticipantInfo:
    return p.ParticipantInfo(
        identity=participant.identity,
        name=participant.name,
        role=participant.role,
        can_publish=participant.grants.publish,
        can_subscribe=participant.grants.subscribe,
        presence=participant.presence.value,
        publications=[publication_info(x) for x in participant.publications.values()],
    )


def room_info(room: Room) -> p.RoomInfo:
    return p.RoomInfo(
        id=room.id,
        max_participants=room.max_participants,
        participants=[participant_info(x) for x in room],
    )


def event_message(event: domain.RoomEvent) -> p.ServerMessage:
    match event:
        case domain.ParticipantJoined(participant):
            return p.ParticipantJoined(participant=participant_info(participant))
        case domain.ParticipantLeft(identity, reason):
            return p.ParticipantLeft(identity=identity, reason=reason)
        case domain.ParticipantReconnecting(identity):
            return p.ParticipantReconnecting(identity=identity)
        case domain.ParticipantResumed(identity):
            return p.ParticipantResumed(identity=identity)
        case domain.TrackPublished(publication):
            return p.TrackPublished(publication=publication_info(publication))
        case domain.TrackUnpublished(publication):
            return p.TrackUnpublished(publication=publication_info(publication))
        case domain.TrackMuted(publication, muted):
            return p.TrackMuted(publication=publication_info(publication), muted=muted)
    raise AssertionError(f"unmapped event {event!r}")


def event_subject(event: domain.RoomEvent) -> str:
    """The identity an event is about (it is not sent back to that participant)."""
    match event:
        case domain.ParticipantJoined(participant):
            return participant.identity
        case domain.ParticipantLeft(identity, _):
            return identity
        case domain.ParticipantReconnecting(identity) | domain.ParticipantResumed(identity):
            return identity
        case domain.TrackPublished(publication) | domain.TrackUnpublished(publication):
            return publication.owner
        case domain.TrackMuted(publication, _):
            return publication.owner
    raise AssertionError(f"unmapped event {event!r}")
