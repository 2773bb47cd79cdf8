"""What the client keeps of each downlink the node offered it, and its packet record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket

from media.ids import Kind
from media.rtp import vp8_starts_keyframe

from .aiortc_compat import receiver_rtp_handler, set_receiver_rtp_handler

__all__ = ["PacketRecord", "RemoteDownlink", "record_packets"]


@dataclass(frozen=True, slots=True)
class PacketRecord:
    """One RTP packet as the client's receiver saw it (before RTX unwrap)."""

    payload_type: int
    ssrc: int
    sequence_number: int
    timestamp: int
    keyframe_start: bool
    size: int
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class RemoteDownlink:
    id: str
    publisher: str
    pc: RTCPeerConnection
    tracks: dict[Kind, MediaStreamTrack] = field(default_factory=dict)
    packets: dict[Kind, list[PacketRecord]] = field(default_factory=dict)


def record_packets(receiver: Any, log: list[PacketRecord]) -> None:
    """Append a `PacketRecord` to `log` for every RTP packet `receiver` is handed."""
    inner = receiver_rtp_handler(receiver)

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        log.append(PacketRecord(
            packet.payload_type, packet.ssrc, packet.sequence_number, packet.timestamp,
            vp8_starts_keyframe(packet.payload), len(packet.payload), time.monotonic(),
        ))
        await inner(packet, arrival_time_ms=arrival_time_ms)

    set_receiver_rtp_handler(receiver, handle)
