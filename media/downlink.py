"""The send side of subscriptions: a forwarding RTP sender and the per-track glue.

A Downlink is the peer connection that carries one publisher's tracks to one subscriber
(the node offers it). Each of its DownTracks pairs a sans-IO Forwarder with a
ForwardingSender that writes rewritten packets straight to the DTLS transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

from .aiortc_compat import drive
from .counters import ForwardingCounters
from .forwarder import Forwarder, Verdict
from .ids import CLOCK_RATE, Kind
from .rtp import vp8_starts_keyframe

if TYPE_CHECKING:
    from .feed import Feed


class _IdleTrack(MediaStreamTrack):
    """Keeps aiortc's own send loop parked: recv() waits until the sender stops."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:
        await asyncio.Event().wait()


class ForwardingSender(RTCRtpSender):
    """An RTCRtpSender fed with already-encoded RTP packets instead of frames.

    Keeps aiortc's RTX history and sender-report counters up to date so NACK answers and
    RTCP SRs stay valid. Keyframe requests and NACKs it cannot answer go to `owner`.
    """

    def __init__(self, kind: str, transport: Any, counters: ForwardingCounters) -> None:
        super().__init__(_IdleTrack(kind), transport)
        self.owner: DownTrack | None = None
        self.payload_type = 0
        self._counters = counters
        self._background: set[asyncio.Future[None]] = set()

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        self.payload_type = parameters.codecs[0].payloadType or 0
        await super().send(parameters)

    def write(self, source: RtpPacket, sequence_number: int, timestamp: int) -> int:
        """Send one forwarded packet; returns the bytes written."""
        packet = RtpPacket(
            payload_type=self.payload_type,
            marker=source.marker,
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=self._ssrc,
            payload=source.payload,
        )
        packet.extensions.mid = self._RTCRtpSender__mid  # type: ignore[attr-defined]
        packet.extensions.abs_send_time = (current_ntp_time() >> 14) & 0x00FFFFFF
        packet.extensions.audio_level = source.extensions.audio_level
        self._RTCRtpSender__rtp_history[sequence_number % RTP_HISTORY_SIZE] = packet  # type: ignore[attr-defined]
        data = packet.serialize(self._RTCRtpSender__rtp_header_extensions_map)  # type: ignore[attr-defined]
        drive(self.transport._send_rtp(data), self._background)
        self._RTCRtpSender__ntp_timestamp = current_ntp_time()
        self._RTCRtpSender__rtp_timestamp = timestamp
        self._RTCRtpSender__octet_count += len(source.payload)  # type: ignore[attr-defined]
        self._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]
        return len(data)

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        owner = self.owner
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            history = self._RTCRtpSender__rtp_history  # type: ignore[attr-defined]
            missing = []
            self._counters.nacks_received += len(packet.lost)
            for seq in packet.lost:
                kept = history.get(seq % RTP_HISTORY_SIZE)
                if kept is not None and kept.sequence_number == seq:
                    self._counters.retransmissions += 1
                    await self._retransmit(seq)
                else:
                    missing.append(seq)
            if missing and owner is not None:
                owner.nack_upstream(missing)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_FIR, RTCP_PSFB_PLI):
            self._counters.keyframe_requests_received += 1
            if owner is not None:
                owner.request_keyframe()
        else:
            await super()._handle_rtcp_packet(packet)


class DownTrack:
    """One Subscription's media: a publication forwarded to one subscriber."""

    def __init__(
        self,
        kind: Kind,
        sender: ForwardingSender,
        counters: ForwardingCounters,
        clock: Callable[[], float],
    ) -> None:
        self.kind = kind
        self.sender = sender
        sender.owner = self
        self.forwarder = Forwarder(
            clock_rate=CLOCK_RATE[kind],
            gate_on_keyframe=kind is Kind.VIDEO,
            initial_sequence_number=_random16() % 32768,
            initial_timestamp=_random32(),
        )
        self.feed: Feed | None = None
        self.ready = False  # set when the subscriber's DTLS is up
        self._counters = counters.by_kind[kind]
        self._clock = clock

    def write(self, packet: RtpPacket, now: float) -> None:
        if not self.ready:
            return
        keyframe = self.kind is Kind.VIDEO and vp8_starts_keyframe(packet.payload)
        t = self.forwarder.translate(
            packet.ssrc, packet.sequence_number, packet.timestamp, keyframe, now
        )
        if t.verdict is Verdict.FORWARD:
            self._counters.bytes_forwarded += self.sender.write(
                packet, t.sequence_number, t.timestamp
            )
            self._counters.packets_forwarded += 1
        elif t.verdict is Verdict.DROP_WAITING_KEYFRAME and self.feed is not None:
            self.feed.request_keyframe(now)

    def request_keyframe(self) -> None:
        if self.feed is not None:
            self.feed.request_keyframe(self._clock())

    def nack_upstream(self, sequence_numbers: list[int]) -> None:
        if self.feed is None:
            return
        source = [self.forwarder.source_sequence_number(s) for s in sequence_numbers]
        self.feed.nack([s for s in source if s is not None])

    def pause(self) -> None:
        self.forwarder.pause()

    def resume(self) -> None:
        self.forwarder.resume()
        self.request_keyframe()


def _random16() -> int:
    import secrets

    return secrets.randbits(16)


def _random32() -> int:
    import secrets

    return secrets.randbits(32)
