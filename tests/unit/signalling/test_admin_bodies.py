"""Admin bodies are strict and depth-checked (issue 19, defects 4 and 7); offers the fuzzer
broke are refused with a code, not by an assertion deep in aiortc."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from media.errors import ErrorCode, MediaError
from media.sdp_policy import inspect_offer
from signalling.api import CreateRoom, CreateToken
from signalling.inbound import MAX_DEPTH, too_deep


def test_fifty_thousand_nested_arrays_are_too_deep_before_any_parse() -> None:
    # defect 4: aiohttp's request.json() hit the recursion limit: HTTP 500
    assert too_deep("[" * 50_000 + "]" * 50_000, MAX_DEPTH)
    assert not too_deep('{"id": "r1", "max_participants": 8}', MAX_DEPTH)


@pytest.mark.parametrize(
    "body",
    ['{"id": "r1", "max_participants": "8"}', '{"id": "r1", "max_participants": true}',
     '{"id": "r1", "max_participants": 8.5}', '{"id": "r1", "max_participants": 65}',
     '{"id": "../r1"}', '{"id": 1}', '{"id": "r1", "extra": 1}', "[]"],
)
def test_create_room_bodies_are_strict(body: str) -> None:
    with pytest.raises(ValidationError):
        CreateRoom.model_validate_json(body)


@pytest.mark.parametrize(
    "changes",
    ['"ttl_s": "100"', '"ttl_s": true', '"ttl_s": 604801', '"identity": ""',
     '"identity": "a/b"', '"grants": {"publish": "yes", "subscribe": 1}', '"role": "admin"',
     '"name": "' + "n" * 129 + '"'],
)
def test_create_token_bodies_are_strict(changes: str) -> None:
    with pytest.raises(ValidationError):
        CreateToken.model_validate_json(
            '{"room": "r1", "identity": "tutor-7", "role": "tutor", ' + changes + "}")


def test_a_valid_token_body_reads() -> None:
    body = CreateToken.model_validate_json(
        '{"room": "r1", "identity": "learner-3", "role": "learner", "ttl_s": 600, '
        '"grants": {"publish": false, "subscribe": true}}')
    assert body.grants is not None and body.grants.publish is False and body.ttl_s == 600


OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 {fp}\r\na=setup:actpass\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
)


@pytest.mark.parametrize(
    "broken",
    [OFFER.replace("a=fingerprint:sha-256 {fp}\r\n", ""),
     OFFER.replace("a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", "")],
)
def test_an_offer_without_a_fingerprint_or_ice_password_is_bad_sdp(broken: str) -> None:
    assert inspect_offer(OFFER.format(fp=":".join(["AB"] * 32))) == ["video"]
    with pytest.raises(MediaError) as refused:
        inspect_offer(broken.format(fp=":".join(["AB"] * 32)))
    assert refused.value.code is ErrorCode.BAD_SDP
