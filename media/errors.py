"""The media package's one error type, with stable codes that the wire layer maps to replies."""

from __future__ import annotations

from enum import StrEnum


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


class MediaError(Exception):
    """A request the media plane refuses; `code` is stable, `message` is for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
