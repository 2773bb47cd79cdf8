"""The WebSocket protocol, version 1: typed JSON messages with a `type` discriminator.

Requests from a client carry an `id`; the node's reply (or error) repeats it. Events
from the node have no `id`. docs/protocol.md describes each message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from media.ids import Kind, LeaveReason, Role

PROTOCOL_VERSION = 1

RequestId = Annotated[str, Field(min_length=1, max_length=64)]
Sdp = Annotated[str, Field(min_length=1, max_length=32 * 1024)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- shared shapes ---------------------------------------------------------------------


class PublicationInfo(_Message):
    id: str
    owner: str
    kind: Kind
    muted: bool


class ParticipantInfo(_Message):
    identity: str
    name: str
    role: Role
    can_publish: bool
    can_subscribe: bool
    presence: Literal["active", "reconnecting"] = "active"
    publications: list[PublicationInfo] = []


class RoomInfo(_Message):
    id: str
    max_participants: int
    participants: list[ParticipantInfo]


# --- client -> node ----------------------------------------------------------------------


class Join(_Message):
    type: Literal["join"] = "join"
    id: RequestId
    v: int
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class Publish(_Message):
    type: Literal["publish"] = "publish"
    id: RequestId
    sdp: Sdp


class Unpublish(_Message):
    type: Literal["unpublish"] = "unpublish"
    id: RequestId


class Answer(_Message):
    type: Literal["answer"] = "answer"
    id: RequestId
    downlink: Annotated[str, Field(min_length=1, max_length=64)]
    sdp: Sdp


class Mute(_Message):
    type: Literal["mute"] = "mute"
    id: RequestId
    kind: Kind
    muted: bool


class Leave(_Message):
    type: Literal["leave"] = "leave"
    id: RequestId


class Ping(_Message):
    type: Literal["ping"] = "ping"
    id: RequestId


class Record(_Message):
    """The tutor starts (`active`) or stops recording the room (the room's policy applies)."""

    type: Literal["record"] = "record"
    id: RequestId
    active: bool


ClientMessage = Annotated[
    Join | Publish | Unpublish | Answer | Mute | Leave | Ping | Record,
    Field(discriminator="type"),
]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
CLIENT_TYPES = frozenset(
    ["join", "publish", "unpublish", "answer", "mute", "leave", "ping", "record"])


# --- node -> client: replies -------------------------------------------------------------


class Joined(_Message):
    type: Literal["joined"] = "joined"
    id: str
    v: int = PROTOCOL_VERSION
    participant: ParticipantInfo
    room: RoomInfo
    resume_token: str
    resumed: bool = False  # True when this join took back a held seat


class Published(_Message):
    type: Literal["published"] = "published"
    id: str
    sdp: str
    publications: list[PublicationInfo]


class Ok(_Message):
    type: Literal["ok"] = "ok"
    id: str


class Error(_Message):
    type: Literal["error"] = "error"
    id: str | None = None
    code: str
    message: str


# --- node -> client: events --------------------------------------------------------------


class Offer(_Message):
    """The node offers a downlink: one publisher's tracks, to be answered with `answer`."""

    type: Literal["offer"] = "offer"
    downlink: str
    publisher: str
    sdp: str
    publications: dict[str, str]  # mid -> publication id


class DownlinkClosed(_Message):
    type: Literal["downlink_closed"] = "downlink_closed"
    downlink: str


class ParticipantJoined(_Message):
    type: Literal["participant_joined"] = "participant_joined"
    participant: ParticipantInfo


class ParticipantLeft(_Message):
    type: Literal["participant_left"] = "participant_left"
    identity: str
    reason: LeaveReason


class ParticipantReconnecting(_Message):
    """The participant's connection went quiet; its seat is held (it has not left)."""

    type: Literal["participant_reconnecting"] = "participant_reconnecting"
    identity: str


class ParticipantResumed(_Message):
    type: Literal["participant_resumed"] = "participant_resumed"
    identity: str


class TrackPublished(_Message):
    type: Literal["track_published"] = "track_published"
    publication: PublicationInfo


class TrackUnpublished(_Message):
    type: Literal["track_unpublished"] = "track_unpublished"
    publication: PublicationInfo


class TrackMuted(_Message):
    type: Literal["track_muted"] = "track_muted"
    publication: PublicationInfo
    muted: bool


class ConnectionQuality(_Message):
    """A participant's connection quality changed (sent to the whole room, itself included)."""

    type: Literal["connection_quality"] = "connection_quality"
    identity: str
    quality: Literal["excellent", "good", "fair", "poor", "lost"]
    score: float


class VideoPaused(_Message):
    """To one subscriber: the node stopped (`paused`) or restarted forwarding a publisher's
    video to it because its link cannot carry the video (audio continues). Sent again with
    `paused: false` when the video is tried again."""

    type: Literal["video_paused"] = "video_paused"
    publisher: str
    paused: bool
    reason: Literal["bandwidth"] = "bandwidth"


class RecordingStarted(_Message):
    """To everyone in the room: the room is being recorded (sent again when `recorded`
    changes). `recorded`: the participants (identities) whose tracks are kept; anyone else
    is not recorded (a learner without a guardian's consent, for one)."""

    type: Literal["recording_started"] = "recording_started"
    recorded: list[str] = []


class RecordingStopped(_Message):
    type: Literal["recording_stopped"] = "recording_stopped"


class Closing(_Message):
    """The node is about to close this socket (room closed, replaced, shutdown)."""

    type: Literal["closing"] = "closing"
    reason: str


ServerMessage = Annotated[
    Joined | Published | Ok | Error | Offer | DownlinkClosed | ParticipantJoined
    | ParticipantLeft | ParticipantReconnecting | ParticipantResumed | TrackPublished
    | TrackUnpublished | TrackMuted | ConnectionQuality | VideoPaused | Closing
    | RecordingStarted | RecordingStopped,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
