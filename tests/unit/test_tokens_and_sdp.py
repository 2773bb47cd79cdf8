"""Join tokens and the publish-offer policy (pure functions)."""

from __future__ import annotations

import time
from typing import cast

import jwt
import pytest

from media.errors import ErrorCode, MediaError
from media.ids import Kind, Role
from media.sdp_policy import inspect_offer
from signalling.errors import SignalCode, SignalError
from signalling.tokens import mint, verify

SECRET = "s" * 32


def test_a_minted_token_verifies_with_role_default_grants() -> None:
    claims = verify(SECRET, mint(SECRET, room="r", identity="t1", role=Role.TUTOR), room="r")
    assert (claims.sub, claims.role, claims.grants.publish) == ("t1", Role.TUTOR, True)
    observer = verify(SECRET, mint(SECRET, room="r", identity="o", role=Role.OBSERVER))
    assert (observer.grants.publish, observer.grants.subscribe) == (False, True)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (mint("x" * 32, room="r", identity="m", role=Role.TUTOR), SignalCode.BAD_TOKEN),
        (mint(SECRET, room="r", identity="m", role=Role.TUTOR, now=time.time() - 99, ttl_s=10),
         SignalCode.TOKEN_EXPIRED),
        (mint(SECRET, room="other", identity="m", role=Role.TUTOR), SignalCode.WRONG_ROOM),
        (jwt.encode({"sub": "m", "room": "r"}, SECRET, "HS256"), SignalCode.BAD_TOKEN),
        (jwt.encode({"sub": "m", "room": "r", "iss": "liveroom", "exp": 2**40, "iat": 0,
                     "role": "admin", "grants": {"publish": True, "subscribe": True}},
                    SECRET, "HS256"), SignalCode.BAD_TOKEN),
        ("not-a-token", SignalCode.BAD_TOKEN),
    ],
)
def test_bad_tokens_are_refused_with_a_code(token: str, code: SignalCode) -> None:
    with pytest.raises(SignalError) as refused:
        verify(SECRET, token, room="r")
    assert refused.value.code is code


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "m", "room": "r", "iss": "liveroom", "exp": 2**40, "iat": 0,
                        "role": "tutor", "grants": {"publish": True, "subscribe": True}},
                       cast(str, None), "none")  # PyJWT's annotation omits alg none's None key
    with pytest.raises(SignalError):
        verify(SECRET, token)


def offer(*media: str) -> str:
    head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    return head + "".join(media)


def m(kind: str, codec: str, direction: str = "sendonly", extra: str = "") -> str:
    pt = 111 if kind == "audio" else 96
    rate = "48000/2" if kind == "audio" else "90000"
    return (f"m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=mid:{kind}\r\n"
            f"a={direction}\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
            f"a=fingerprint:sha-256 {':'.join(['AB'] * 32)}\r\na=setup:actpass\r\n"
            f"a=rtpmap:{pt} {codec}/{rate}\r\n{extra}")


def test_an_audio_and_video_offer_is_accepted() -> None:
    assert inspect_offer(offer(m("audio", "opus"), m("video", "VP8"))) == [Kind.AUDIO, Kind.VIDEO]


@pytest.mark.parametrize(
    ("sdp", "code"),
    [
        ("hello", ErrorCode.BAD_SDP),
        (offer(), ErrorCode.BAD_SDP),
        (offer(m("video", "H264")), ErrorCode.UNSUPPORTED_MEDIA),
        (offer(m("video", "VP8"), m("video", "VP8")), ErrorCode.UNSUPPORTED_MEDIA),
        (offer(m("video", "VP8", "recvonly")), ErrorCode.BAD_SDP),
        (offer(m("video", "VP8", extra="a=rid:h send\r\na=simulcast:send h\r\n")),
         ErrorCode.SIMULCAST_UNSUPPORTED),
        ("v=0\r\n" + "a=x\r\n" * 10000, ErrorCode.BAD_SDP),
    ],
)
def test_offers_the_forwarder_cannot_carry_are_refused(sdp: str, code: ErrorCode) -> None:
    with pytest.raises(MediaError) as refused:
        inspect_offer(sdp)
    assert refused.value.code is code
