"""Typed identifiers and small enums of the media domain."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NewType

RoomId = NewType("RoomId", str)
Identity = NewType("Identity", str)
PublicationId = NewType("PublicationId", str)
DownlinkId = NewType("DownlinkId", str)

# The one identifier grammar: room ids, identities, downlink ids and request ids are 1-64
# of A-Z a-z 0-9 _ - (safe in URLs, file and object names, logs; no path tricks). A
# publication id is `<identity>:<kind>`. Every door checks it: the WebSocket URL at join,
# tokens (mint and verify), the admin API (bodies and URLs), the protocol's fields.
ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
ID_MAX_CHARS = 64
_ID = re.compile(ID_PATTERN)
_PUBLICATION_ID = re.compile(rf"({ID_PATTERN}):(audio|video)")


def valid_id(value: object) -> bool:
    """True if `value` is a str in the identifier grammar (no newline, no surrogate)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, what: str = "id") -> str:
    """`value` if it is a valid identifier, else ValueError naming `what` (never echoing it)."""
    if not valid_id(value):
        raise ValueError(f"{what} must be 1-{ID_MAX_CHARS} of A-Z a-z 0-9 _ -")
    assert isinstance(value, str)
    return value


def valid_publication_id(value: object) -> bool:
    return isinstance(value, str) and _PUBLICATION_ID.fullmatch(value) is not None


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
