"""The RTCP the forwarding node reads and writes, without aiortc's packet objects (pure).

A subscriber sends, per downlink, receiver reports (~1 a second per stream), REMB, NACKs
and PLIs; aiortc parses every compound packet into dataclasses (one per packet and per
report block), routes each through a set and a coroutine per recipient, and builds a stats
object with a `datetime` per report. `parse_feedback` reads only what the node uses, into
a few tuples: report blocks, NACKed sequence numbers, keyframe requests, REMB. It accepts
and refuses exactly what `aiortc.rtp.RtcpPacket.parse` does (a compound packet with one
bad part is dropped whole), so the node's behaviour does not depend on which path read it.

The writers build what aiortc's RTCRtpSender sends every 0.5-1.5 s (SR + SDES CNAME) and
the BYE it sends when it stops, byte for byte.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE, RTCP_RTPFB, RTCP_PSFB = 200, 201, 202, 203, 205, 206
NACK_FMT = 1
PLI_FMT, FIR_FMT, REMB_FMT = 1, 4, 15

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!L")
_TWO_SSRCS = struct.Struct("!LL")
_BLOCK = struct.Struct("!LB3sLLLL")  # ssrc, fraction lost, packets lost (24-bit), 4 words
_NACK_ITEM = struct.Struct("!HH")
_SR = struct.Struct("!BBHLQLLL")


class ReportBlock(NamedTuple):
    """One report block of a receiver (or sender) report: what a receiver saw of `ssrc`."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int


class Reports(NamedTuple):
    """An RR (or SR) packet's report blocks; `ssrc` is the reporter's."""

    ssrc: int
    from_sender_report: bool
    blocks: list[ReportBlock]


class Nack(NamedTuple):
    """Generic NACK (RTPFB fmt 1): `lost` as aiortc lists them (pid, then pid+1+bit)."""

    media_ssrc: int
    lost: list[int]


class KeyframeRequest(NamedTuple):
    """PLI or FIR."""

    media_ssrc: int


class Remb(NamedTuple):
    """PSFB fmt 15 (application layer feedback). `bitrate` is None when the FCI is not a
    valid REMB (aiortc then routes it by `media_ssrc` alone and ignores it)."""

    media_ssrc: int
    bitrate: int | None
    ssrcs: list[int]


class Other(NamedTuple):
    """Feedback the node does not act on, routed by `media_ssrc` (aiortc's senders ignore
    it too): other RTPFB and PSFB formats."""

    media_ssrc: int


Feedback = Reports | Nack | KeyframeRequest | Remb | Other


def _packets_lost(raw: bytes) -> int:
    value = (raw[0] << 16) | (raw[1] << 8) | raw[2]
    return value - (1 << 24) if value & 0x800000 else value


def _blocks(data: bytes | memoryview, pos: int, count: int) -> list[ReportBlock]:
    blocks = []
    for _ in range(count):
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        blocks.append(ReportBlock(ssrc, fraction, _packets_lost(lost), highest, jitter,
                                  lsr, dlsr))
        pos += 24
    return blocks


def _check_sdes(data: bytes, pos: int, end: int, count: int) -> None:
    """aiortc's SDES parse, for its errors only (the node does not use SDES)."""
    for _ in range(count):
        if end < pos + 4:
            raise ValueError("RTCP SDES source is truncated")
        pos += 4
        while pos < end - 1:
            d_type, d_length = data[pos], data[pos + 1]
            pos += 2
            if end < pos + d_length:
                raise ValueError("RTCP SDES item is truncated")
            pos += d_length
            if d_type == 0:
                break


def _nack_lost(data: bytes, pos: int, end: int) -> list[int]:
    lost = []
    for item in range(pos, end, 4):
        pid, blp = _NACK_ITEM.unpack_from(data, item)
        lost.append(pid)
        bit = 0
        while blp:
            if blp & 1:
                lost.append(pid + bit + 1)
            blp >>= 1
            bit += 1
    return lost


def _remb(data: bytes, pos: int, end: int) -> tuple[int, list[int]] | None:
    if end - pos < 8 or data[pos : pos + 4] != b"REMB":
        return None
    exponent = (data[pos + 5] & 0xFC) >> 2
    mantissa = ((data[pos + 5] & 0x03) << 16) | (data[pos + 6] << 8) | data[pos + 7]
    count = data[pos + 4]
    if end - pos < 8 + 4 * count:
        return None  # aiortc's unpack_remb_fci raises struct.error, which is not caught
        # there (its DTLS transport's task dies); here it is an invalid REMB, ignored
    ssrcs = list(struct.unpack_from(f"!{count}L", data, pos + 8)) if count else []
    return mantissa << exponent, ssrcs


def parse_feedback(data: bytes) -> list[Feedback]:
    """The feedback in a compound RTCP packet; raises ValueError where aiortc's parser does."""
    items: list[Feedback] = []
    pos, size = 0, len(data)
    while pos < size:
        if size < pos + 4:
            raise ValueError("RTCP packet length is less than 4 bytes")
        first, packet_type, length = _HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            raise ValueError("RTCP packet has invalid version")
        count = first & 0x1F
        pos += 4
        end = pos + length * 4
        if size < end:
            raise ValueError("RTCP packet is truncated")
        start, pos = pos, end
        if first & 0x20:  # padding: the last byte says how much
            if end == start or not data[end - 1] or data[end - 1] > end - start:
                raise ValueError("RTCP packet padding length is invalid")
            end -= data[end - 1]
        payload = end - start
        if packet_type == RTCP_RR:
            if payload != 4 + 24 * count:
                raise ValueError("RTCP receiver report length is invalid")
            reporter = _SSRC.unpack_from(data, start)[0]
            items.append(Reports(reporter, False, _blocks(data, start + 4, count)))
        elif packet_type == RTCP_SR:
            if payload != 24 + 24 * count:
                raise ValueError("RTCP sender report length is invalid")
            reporter = _SSRC.unpack_from(data, start)[0]
            items.append(Reports(reporter, True, _blocks(data, start + 24, count)))
        elif packet_type == RTCP_RTPFB:
            if payload < 8 or payload % 4:
                raise ValueError("RTCP RTP feedback length is invalid")
            media_ssrc = _SSRC.unpack_from(data, start + 4)[0]
            lost = _nack_lost(data, start + 8, end)
            items.append(Nack(media_ssrc, lost) if count == NACK_FMT else Other(media_ssrc))
        elif packet_type == RTCP_PSFB:
            if payload < 8:
                raise ValueError("RTCP payload-specific feedback length is invalid")
            media_ssrc = _SSRC.unpack_from(data, start + 4)[0]
            if count in (PLI_FMT, FIR_FMT):
                items.append(KeyframeRequest(media_ssrc))
            elif count == REMB_FMT:
                remb = _remb(data, start + 8, end)
                items.append(Remb(media_ssrc, None, []) if remb is None
                             else Remb(media_ssrc, remb[0], remb[1]))
            else:
                items.append(Other(media_ssrc))
        elif packet_type == RTCP_BYE:
            if payload < 4 * count:
                raise ValueError("RTCP bye length is invalid")
        elif packet_type == RTCP_SDES:
            _check_sdes(data, start, end, count)
    return items


def sdes_cname(ssrc: int, cname: str) -> bytes:
    """An SDES packet with one chunk: the CNAME of `ssrc` (as aiortc's RtcpSdesPacket)."""
    value = cname.encode("utf8")
    payload = _SSRC.pack(ssrc) + bytes([1, len(value)]) + value + b"\x00\x00"
    payload += b"\x00" * (-len(payload) % 4)
    return _HEADER.pack(0x81, RTCP_SDES, len(payload) // 4) + payload


def sender_report(
    ssrc: int, ntp_timestamp: int, rtp_timestamp: int, packet_count: int, octet_count: int
) -> bytes:
    """An SR without report blocks (a forwarding sender receives nothing on its stream)."""
    return _SR.pack(0x80, RTCP_SR, 6, ssrc, ntp_timestamp & 0xFFFFFFFFFFFFFFFF,
                    rtp_timestamp & 0xFFFFFFFF, packet_count & 0xFFFFFFFF,
                    octet_count & 0xFFFFFFFF)


def bye(ssrc: int) -> bytes:
    return _HEADER.pack(0x81, RTCP_BYE, 1) + _SSRC.pack(ssrc)


__all__ = [
    "Feedback", "KeyframeRequest", "Nack", "Other", "Remb", "ReportBlock", "Reports", "bye",
    "parse_feedback", "sdes_cname", "sender_report",
]
