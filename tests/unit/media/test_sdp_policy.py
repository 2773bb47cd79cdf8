"""The publish-offer policy: which offers the forwarder can carry (pure functions)."""

from __future__ import annotations

import pytest

from media.errors import ErrorCode, MediaError
from media.ids import Kind
from media.sdp_policy import inspect_offer


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
