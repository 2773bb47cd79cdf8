"""Cheap receiving bots: count RTP packets as they come off the socket, before aiortc.

A counting subscriber must cost far less than the node it loads (bots share the machine's
two cores with it). aiortc's receive path costs a bot a queue hop, a task wake-up, SRTP
unprotect, RTP parse, statistics and the jitter buffer for every packet. SRTP leaves the
RTP header in clear text, so this module counts from the header as the datagram arrives
at the peer connection's UDP sockets and never hands SRTP media to aiortc: DTLS, STUN and
RTCP still go the normal way, so the connection stays up and the sender's reports arrive.
A counting bot does not verify SRTP authentication tags, and since aiortc's receiver never
sees the media it sends no NACK, PLI or REMB (it is a load, not a quality probe), unless
the tap passes the media on (`pass_on=True`, loadtest/receivers.py: browser-like bots).
"""

from __future__ import annotations

import builtins
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from signalling.client.aiortc_compat import ice_connection

_HEADER = struct.Struct("!HII")  # sequence number, timestamp, ssrc (from byte 2)
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/", re.M)


def payload_types(sdp: str) -> dict[int, tuple[str, bool]]:
    """Payload type -> (kind, is_rtx) from the m-sections of an SDP."""
    result: dict[int, tuple[str, bool]] = {}
    for section in re.split(r"^(?=m=)", sdp, flags=re.M)[1:]:
        kind = section[2:].split(" ", 1)[0]
        for pt, name in _RTPMAP.findall(section):
            result[int(pt)] = (kind, name.lower() == "rtx")
    return result


@dataclass(slots=True)
class _Stream:
    kind: str
    base: int  # extended sequence number of the first packet
    highest: int  # highest extended sequence number seen
    received: int = 1

    @property
    def lost(self) -> int:
        return max(0, self.highest - self.base + 1 - self.received)


@dataclass(slots=True)
class PacketCounter:
    """What one subscriber received, counted from RTP headers."""

    kinds: dict[int, tuple[str, bool]] = field(default_factory=dict)
    video_packets: int = 0
    video_frames: int = 0  # packets with the marker bit: the last packet of a frame
    audio_packets: int = 0
    rtx_packets: int = 0
    other_packets: int = 0
    bytes: int = 0
    streams: dict[int, _Stream] = field(default_factory=dict)

    def on_datagram(self, data: builtins.bytes) -> None:
        second = data[1]
        kind, rtx = self.kinds.get(second & 0x7F, ("", False))
        self.bytes += len(data)
        if rtx:
            self.rtx_packets += 1
            return
        if kind == "video":
            self.video_packets += 1
            if second & 0x80:
                self.video_frames += 1
        elif kind == "audio":
            self.audio_packets += 1
        else:
            self.other_packets += 1
            return
        seq, _ts, ssrc = _HEADER.unpack_from(data, 2)
        stream = self.streams.get(ssrc)
        if stream is None:
            self.streams[ssrc] = _Stream(kind, seq, seq)
            return
        stream.received += 1
        # extend the 16-bit sequence number around the highest one seen
        delta = (seq - stream.highest) & 0xFFFF
        if delta < 0x8000:
            stream.highest += delta

    def lost(self, kind: str) -> int:
        """Packets numbered by the sender but not received (duplicates do not offset)."""
        return sum(s.lost for s in self.streams.values() if s.kind == kind)

    def snapshot(self) -> list[int]:
        """[video_packets, video_frames, audio_packets, video_lost, audio_lost, rtx, bytes]."""
        return [
            self.video_packets, self.video_frames, self.audio_packets,
            self.lost("video"), self.lost("audio"), self.rtx_packets, self.bytes,
        ]


SNAPSHOT_FIELDS = (
    "video_packets", "video_frames", "audio_packets", "video_lost", "audio_lost",
    "rtx_packets", "bytes",
)


def tap_connection(pc: Any, counter: PacketCounter, pass_on: bool = False) -> None:
    """Count SRTP media where the peer connection's UDP sockets receive it; pass the rest on.

    Call after setLocalDescription (the sockets exist) and before the remote side can send
    media. Each socket's `datagram_received` is wrapped, so a media datagram costs one
    Python call and no STUN parse attempt; the ICE connection's `data_received` is wrapped
    too, for sockets that appear later. With `pass_on`, media is counted and then handed
    to aiortc as well (its receivers then send RTCP feedback like a browser's).
    """
    connection = ice_connection(pc.getTransceivers()[0].receiver.transport.transport)
    count = counter.on_datagram

    def is_media(data: bytes) -> bool:
        first = data[0]
        return 127 < first < 192 and len(data) >= 12 and not 192 <= data[1] <= 223

    deliver: Callable[[bytes, int], None] = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        if is_media(data):
            count(data)
            if not pass_on:
                return
        deliver(data, component)

    connection.data_received = data_received
    if pass_on:
        return  # every socket's datagrams reach aiortc through data_received: count there
    for protocol in connection._protocols:
        received: Callable[[bytes, Any], None] = protocol.datagram_received

        def datagram_received(
            data: bytes, addr: Any, received: Callable[[bytes, Any], None] = received
        ) -> None:
            if is_media(data):
                count(data)
            else:
                received(data, addr)

        protocol.datagram_received = datagram_received
