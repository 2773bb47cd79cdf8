"""media/rtcp.py reads what aiortc's parser reads, refuses what it refuses, and writes the
bytes aiortc's sender writes."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media.feedback import dispatch
from media.rtcp import (
    Feedback,
    KeyframeRequest,
    Nack,
    Other,
    Remb,
    ReportBlock,
    Reports,
    bye,
    parse_feedback,
    sdes_cname,
    sender_report,
)


def block(ssrc: int, lost: int = 3) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(ssrc=ssrc, fraction_lost=12, packets_lost=lost,
                            highest_sequence=70000, jitter=33, lsr=0x1234, dlsr=0x5678)


def compound(*packets: object) -> bytes:
    return b"".join(p if isinstance(p, bytes) else bytes(p)  # type: ignore[call-overload]
                    for p in packets)


def test_a_browser_like_compound_packet_reads_as_aiortc_reads_it() -> None:
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=9, media_ssrc=42)
    nack.lost = [1, 2, 5, 17, 40]
    wrapped = struct.pack("!BBHLLHH", 0x81, 205, 3, 9, 42, 65534, 0b101)  # 65535, 65537
    data = compound(
        RtcpRrPacket(ssrc=9, reports=[block(42), block(43, lost=-2)]),
        RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=9, items=[(1, b"cname-x")])]),
        RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=9, media_ssrc=0,
                       fci=pack_remb_fci(1_234_567, [42, 43])),
        nack,
        wrapped,
        RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=9, media_ssrc=42),
        RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=9, media_ssrc=43),
        RtcpRtpfbPacket(fmt=15, ssrc=9, media_ssrc=42),  # transport-cc: not acted on
        RtcpByePacket(sources=[9]),
    )
    theirs = RtcpPacket.parse(data)
    rr, remb, parsed_nack, parsed_wrapped = theirs[0], theirs[2], theirs[3], theirs[4]
    assert isinstance(rr, RtcpRrPacket) and isinstance(parsed_nack, RtcpRtpfbPacket)
    assert isinstance(parsed_wrapped, RtcpRtpfbPacket)
    assert isinstance(remb, RtcpPsfbPacket)
    blocks = [ReportBlock(r.ssrc, r.fraction_lost, r.packets_lost, r.highest_sequence,
                          r.jitter, r.lsr, r.dlsr) for r in rr.reports]
    assert parse_feedback(data) == [
        Reports(9, False, blocks),
        Remb(0, *unpack_remb_fci(remb.fci)),  # 1_234_560: 18 bits of mantissa
        Nack(42, parsed_nack.lost),
        Nack(42, [65534, 65535, 65537]),  # not wrapped to 16 bits, as aiortc lists them
        KeyframeRequest(42),
        KeyframeRequest(43),
        Other(42),
    ]
    assert blocks[1].packets_lost == -2 and parsed_wrapped.lost == [65534, 65535, 65537]


def test_a_sender_report_carries_its_blocks() -> None:
    sr = RtcpSrPacket(ssrc=7, sender_info=RtcpSenderInfo(ntp_timestamp=1 << 40,
                      rtp_timestamp=5, packet_count=6, octet_count=7), reports=[block(42)])
    (reports,) = parse_feedback(bytes(sr))
    assert reports == Reports(7, True, [ReportBlock(42, 12, 3, 70000, 33, 0x1234, 0x5678)])


def test_padding_is_removed_before_the_length_checks() -> None:
    payload = struct.pack("!LL", 9, 42) + b"\x00\x00\x00\x04"  # 4 bytes of padding
    data = struct.pack("!BBH", 0xA0 | RTCP_PSFB_PLI, 206, len(payload) // 4) + payload
    assert len(RtcpPacket.parse(data)) == 1
    assert parse_feedback(data) == [KeyframeRequest(42)]


@pytest.mark.parametrize("data", [
    b"\x81\xc9\x00",  # shorter than a header
    b"\x41\xc9\x00\x01\x00\x00\x00\x09",  # version 1
    b"\x81\xc9\x00\x07" + b"\x00" * 8,  # truncated
    b"\x81\xc9\x00\x01\x00\x00\x00\x09",  # RR: count 1 but no block
    b"\x80\xc8\x00\x01\x00\x00\x00\x09",  # SR without sender info
    b"\x81\xcd\x00\x01\x00\x00\x00\x09",  # RTPFB shorter than two SSRCs
    b"\x81\xce\x00\x01\x00\x00\x00\x09",  # PSFB shorter than two SSRCs
    b"\x82\xcb\x00\x01\x00\x00\x00\x09",  # BYE: two sources announced, one there
    b"\xa1\xce\x00\x02\x00\x00\x00\x09\x00\x00\x00\x00",  # padding length 0
    b"\x81\xca\x00\x01\x00\x00\x00\x09\x01\x05\x61",  # SDES item truncated (3 words)
    bytes(RtcpRrPacket(ssrc=1, reports=[block(2)])) + b"\x81\xc9\x00",  # good, then bad
])
def test_what_aiortc_refuses_is_refused_whole(data: bytes) -> None:
    with pytest.raises(ValueError):
        RtcpPacket.parse(data)
    with pytest.raises(ValueError):
        parse_feedback(data)


def test_an_application_feedback_that_is_not_a_remb_is_routed_but_empty() -> None:
    data = bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=9, media_ssrc=42, fci=b"ABCD1234"))
    assert parse_feedback(data) == [Remb(42, None, [])]
    short = bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=9, media_ssrc=0,
                                 fci=b"REMB\x03\x00\x10\x00" + b"\x00" * 4))
    assert parse_feedback(short) == [Remb(0, None, [])]  # 3 SSRCs announced, 1 there


def test_the_sender_report_sdes_and_bye_are_aiortcs_bytes() -> None:
    info = RtcpSenderInfo(ntp_timestamp=0xE1234567_89ABCDEF, rtp_timestamp=0xFFFFFFF0,
                          packet_count=123456, octet_count=9_876_543)
    sr = RtcpSrPacket(ssrc=0xCAFEBABE, sender_info=info)
    assert sender_report(0xCAFEBABE, info.ntp_timestamp, info.rtp_timestamp,
                         info.packet_count, info.octet_count) == bytes(sr)
    for cname in ("x", "ab", "abc", "{0d4c1f9e-aaaa-bbbb-cccc-123456789abc}"):
        sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=5, items=[(1, cname.encode())])])
        assert sdes_cname(5, cname) == bytes(sdes)
    assert bye(77) == bytes(RtcpByePacket(sources=[77]))


class Recorder:
    def __init__(self, ssrc: int) -> None:
        self._ssrc = ssrc
        self.calls: list[tuple[object, ...]] = []

    def on_reports(self, reports: Reports, wall_time: float) -> None:
        self.calls.append(("reports", reports.ssrc))

    def on_nack(self, lost: list[int]) -> None:
        self.calls.append(("nack", tuple(lost)))

    def on_keyframe_request(self) -> None:
        self.calls.append(("keyframe",))

    def on_remb(self, bitrate: int | None, ssrcs: list[int]) -> None:
        self.calls.append(("remb", bitrate))


def test_feedback_goes_to_the_senders_aiortcs_router_would_pick() -> None:
    audio, video = Recorder(42), Recorder(43)
    items: list[Feedback] = [
        Reports(9, False, [ReportBlock(42, 0, 0, 1, 0, 0, 0), ReportBlock(42, 0, 0, 1, 0, 0, 0)]),
        Reports(9, False, [ReportBlock(99, 0, 0, 1, 0, 0, 0)]),  # nobody's
        Remb(0, 500_000, [43, 43]),
        Remb(42, None, []),
        Nack(43, [1, 2]),
        Nack(99, [1]),
        KeyframeRequest(43),
        Other(42),
    ]
    dispatch(items, {42: audio, 43: video}, wall_time=1.0)
    assert audio.calls == [("reports", 9), ("remb", None)]  # once per RR, however many blocks
    assert video.calls == [("remb", 500_000), ("nack", (1, 2)), ("keyframe",)]
