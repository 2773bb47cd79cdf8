"""The one coded error base, and the media package's error type.

Every package's error (`MediaError` here, `SignalError` in signalling, the client's error)
is a `CodedError`: a stable `code` the wire layer maps to replies, and a `message` for people.
"""

from __future__ import annotations

from enum import StrEnum


class CodedError(Exception):
    """An error with a stable, documented `code` (a StrEnum member in the node's packages)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ErrorCode(StrEnum):
    ROOM_FULL = "room_full"
    ROOM_CLOSED = "room_closed"
    NOT_IN_ROOM = "not_in_room"
    PUBLISH_NOT_ALLOWED = "publish_not_allowed"
    SUBSCRIBE_NOT_ALLOWED = "subscribe_not_allowed"
    BAD_SDP = "bad_sdp"
    UNSUPPORTED_MEDIA = "unsupported_media"
    SIMULCAST_UNSUPPORTED = "simulcast_unsupported"
    NOT_PUBLISHED = "not_published"
    UNKNOWN_DOWNLINK = "unknown_downlink"


class MediaError(CodedError):
    """A request the media plane refuses; `code` is stable, `message` is for people."""

    code: ErrorCode

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
