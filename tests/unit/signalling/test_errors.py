"""One coded error base; named close codes; `room_exists` is a code, not a KeyError."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.errors import CodedError, ErrorCode, MediaError
from media.ids import RoomId
from media.peer import PeerConfig
from signalling import protocol as p
from signalling.connection import encode
from signalling.errors import SignalCode, SignalError
from signalling.node import Node
from signalling.settings import Settings


def test_media_and_signal_errors_share_the_coded_base() -> None:
    for error in (MediaError(ErrorCode.ROOM_FULL, "full"), SignalError(SignalCode.BAD_JSON, "x")):
        assert isinstance(error, CodedError) and error.message and str(error).startswith(
            error.code)


def test_creating_a_room_twice_is_room_exists(tmp_path: Path) -> None:
    node = Node(Settings(data_dir=tmp_path, token_secret="s" * 32, api_key="k"), PeerConfig())
    node.create_room(RoomId("r1"))
    with pytest.raises(SignalError) as refused:
        node.create_room(RoomId("r1"))
    assert refused.value.code is SignalCode.ROOM_EXISTS
    with pytest.raises(ValueError):
        node.create_room(RoomId("../r1"))
    assert set(node.hubs) == {"r1"}


def test_close_codes_keep_their_names_and_numbers() -> None:
    assert {c.name: c.value for c in p.CloseCode} == {
        "NORMAL": 1000, "GOING_AWAY": 1001, "TOO_LARGE": 1009, "PROTOCOL": 4000, "AUTH": 4001,
        "FORBIDDEN": 4003, "NOT_FOUND": 4004, "JOIN_TIMEOUT": 4008, "ROOM_FULL": 4009,
        "SLOW": 4010, "RATE_LIMITED": 4029, "REPLACED": 4409, "NODE_OVERLOADED": 4503,
        "ROOM_CLOSED": 4410, "WRONG_NODE": 4307, "MOVED": 4308,
    }


def test_a_reply_with_a_lone_surrogate_still_serialises() -> None:
    text = encode(p.Error(id=None, code="bad_sdp", message="codec \ud800"))
    assert text.isascii() and "\\ud800" in text
