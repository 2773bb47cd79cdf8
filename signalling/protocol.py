"""The WebSocket protocol, version 1: typed JSON messages with a `type` discriminator.

Requests from a client carry an `id`; the node's reply (or error) repeats it. Events
from the node have no `id`. docs/protocol.md describes each message.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
)

from media.ids import ID_PATTERN, Kind, LeaveReason, Role

PROTOCOL_VERSION = 1


class CloseCode(IntEnum):
    """Every WebSocket close code the node sends (docs/protocol.md, "Close codes")."""

    NORMAL = 1000  # `leave`, or the socket ends normally
    GOING_AWAY = 1001  # server shutdown; reconnect grace period expired
    TOO_LARGE = 1009  # a message over LIVEROOM_MAX_MESSAGE_BYTES (after `message_too_large`)
    PROTOCOL = 4000  # a malformed or out-of-order message before join, binary before join
    AUTH = 4001  # bad or expired token
    FORBIDDEN = 4003  # token for another room
    NOT_FOUND = 4004  # no such room, or the room is closing
    JOIN_TIMEOUT = 4008  # no `join` in time
    ROOM_FULL = 4009  # max_participants reached
    SLOW = 4010  # the client does not read its events (outbox full)
    RATE_LIMITED = 4029  # kept sending far past its request rate limit
    REPLACED = 4409  # a newer connection of the same identity took the seat
    NODE_OVERLOADED = 4503  # the node refuses new participants for now (`node_overloaded`)
    ROOM_CLOSED = 4410  # the room was closed (admin API, or empty past its grace)
    WRONG_NODE = 4307  # the room is hosted by another node: `wrong_node` carries its `url`
    MOVED = 4308  # the node is draining: `move` said where the room went


def _utf8(value: str) -> str:
    """Refuse lone surrogates (`"\\ud800"` in JSON): they cannot be sent on or logged."""
    value.encode("utf-8")  # UnicodeEncodeError is a ValueError: pydantic reports it
    return value


# Ids follow the one grammar of media/ids.py; SDP is bounded text.
WireId = Annotated[StrictStr, Field(pattern=f"^{ID_PATTERN}$")]
RequestId = WireId
Sdp = Annotated[StrictStr, Field(min_length=1, max_length=32 * 1024), AfterValidator(_utf8)]
MAX_TOKEN_CHARS = 4096  # longer tokens are refused `bad_token` (tokens.verify)


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
    v: StrictInt
    token: StrictStr  # its length and contents are the token check's business: `bad_token`


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
    downlink: WireId
    sdp: Sdp


class Mute(_Message):
    type: Literal["mute"] = "mute"
    id: RequestId
    kind: Kind
    muted: StrictBool


class Leave(_Message):
    type: Literal["leave"] = "leave"
    id: RequestId
    unload: bool = False  # the page is going away (closed tab or reload): hold the seat briefly


class Ping(_Message):
    type: Literal["ping"] = "ping"
    id: RequestId
    ice: bool = False  # "my link is back": the node checks ICE consent on my connections now


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


class IceServer(_Message):
    """A TURN server with time-limited credentials (signalling/turn.py)."""

    urls: list[str]
    username: str
    credential: str


class Joined(_Message):
    type: Literal["joined"] = "joined"
    id: str
    v: int = PROTOCOL_VERSION
    participant: ParticipantInfo
    room: RoomInfo
    resume_token: str
    resumed: bool = False  # True when this join took back a held seat
    ice_servers: list[IceServer] = []  # TURN servers for this participant, when configured


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
    retry_after_s: float | None = None
    """Set with `node_overloaded`: try again after this long (or another node)."""
    url: str | None = None
    """Set with `wrong_node`: the room's socket URL on the node that hosts it."""


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


class Move(_Message):
    """The node is draining: the room moved (its seats with it). Rejoin at `url` with the
    resume token of the last `joined`; the node closes this socket 4308 right after.
    `url` is the room's socket on the node it was placed on; null when no node could take
    it yet: rejoin through the entry URL (the directory places it, or says when to retry).
    Others see a mover as joined or resumed on the new node, never as left."""

    type: Literal["move"] = "move"
    url: str | None = None
    reason: Literal["drain"] = "drain"


ServerMessage = Annotated[
    Joined | Published | Ok | Error | Offer | DownlinkClosed | ParticipantJoined
    | ParticipantLeft | ParticipantReconnecting | ParticipantResumed | TrackPublished
    | TrackUnpublished | TrackMuted | ConnectionQuality | VideoPaused | Closing
    | RecordingStarted | RecordingStopped | Move,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


# --- the client contract (docs/continuity.md) -------------------------------------------


class ClientContract(BaseModel):
    """The reconnect numbers every client of this node keeps (docs/continuity.md).

    Defined once here; the browser page gets them from the node's page config
    (signalling/pages.py) instead of keeping a copy. Times are in seconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_delays_s: tuple[float, ...] = Field(default=(0.1, 0.2, 0.4, 0.5), min_length=1)
    """Wait before each retry of a lost connection; the last one repeats."""
    retry_jitter: float = Field(default=0.3, ge=0.0, lt=1.0)
    """Each wait is scaled by a random factor in [1 - retry_jitter, 1], so that a restarted
    node is not hit by every client at once."""
    attempt_timeout_s: float = Field(default=3.0, gt=0.0)
    """One attempt's time to open the socket, and then to get `joined`."""
    give_up_after_s: float = Field(gt=0.0)
    """Stop retrying after this long: the node holds a lost seat this long
    (`LIVEROOM_RECONNECT_GRACE_S`)."""
    stall_after_s: float = Field(default=2.0, gt=0.0)
    """A connected peer connection that received nothing for this long is dead (the node
    sends RTCP at least every 1.5 s, even when no media flows)."""
    watch_every_s: float = Field(default=0.5, gt=0.0)
    """How often the browser client checks its peer connections for a stall."""
    peer_grace_s: float = Field(default=5.0, gt=0.0)
    """A peer connection `disconnected` this long is rebuilt."""


def client_contract(reconnect_grace_s: float) -> ClientContract:
    """The contract of a node that holds a lost participant's seat `reconnect_grace_s`."""
    return ClientContract(give_up_after_s=reconnect_grace_s)
