"""The signalling package's error type; codes are stable and documented in docs/protocol.md."""

from __future__ import annotations

from enum import StrEnum

from media.errors import CodedError


class SignalCode(StrEnum):
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    MESSAGE_TOO_LARGE = "message_too_large"
    RATE_LIMITED = "rate_limited"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    JOIN_TIMEOUT = "join_timeout"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_TOKEN = "bad_token"
    TOKEN_EXPIRED = "token_expired"
    WRONG_ROOM = "wrong_room"
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_EXISTS = "room_exists"
    REPLACED = "replaced"
    NODE_OVERLOADED = "node_overloaded"
    WRONG_NODE = "wrong_node"  # the room is on another node: its URL (signalling/cluster.py)
    PLACEMENT_UNAVAILABLE = "placement_unavailable"
    INTERNAL = "internal"
    RECORDING_REFUSED = "recording_refused"
    WRONG_SESSION = "wrong_session"  # a reviewer token for another session
    NOT_REVIEWER = "not_reviewer"  # a token that is not a reviewer's


class SignalError(CodedError):
    code: SignalCode

    def __init__(self, code: SignalCode, message: str) -> None:
        super().__init__(code, message)
