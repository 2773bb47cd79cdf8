"""Typed identifiers and small enums of the media domain."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

RoomId = NewType("RoomId", str)
Identity = NewType("Identity", str)
PublicationId = NewType("PublicationId", str)
DownlinkId = NewType("DownlinkId", str)


class Kind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


class Role(StrEnum):
    TUTOR = "tutor"
    LEARNER = "learner"
    OBSERVER = "observer"
    REVIEWER = "reviewer"


class LeaveReason(StrEnum):
    LEFT = "left"
    REPLACED = "replaced"
    DISCONNECTED = "disconnected"
    ROOM_CLOSED = "room_closed"
    SERVER_SHUTDOWN = "server_shutdown"


CLOCK_RATE: dict[Kind, int] = {Kind.AUDIO: 48000, Kind.VIDEO: 90000}
