"""The send side of subscriptions: a forwarding RTP sender and the per-track glue.

A Downlink is the peer connection that carries one publisher's tracks to one subscriber
(the node offers it). Each of its DownTracks pairs a sans-IO Forwarder with a
ForwardingSender that writes rewritten packets straight to the DTLS transport.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    unpack_remb_fci,
)

from .counters import ForwardingCounters
from .fallback import VideoFallback
from .fastpath import SEQ_TS_SSRC, Layout, SourcePacket, Wire, ntp_now
from .forwarder import Forwarder, Verdict
from .ids import CLOCK_RATE, Kind
from .interfaces import Upstream


class _IdleTrack(MediaStreamTrack):
    """Keeps aiortc's own send loop parked: recv() waits until the sender stops."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:
        await asyncio.Event().wait()


class ForwardingSender(RTCRtpSender):
    """An RTCRtpSender fed with already-encoded RTP packets instead of frames.

    Keeps an RTX history and aiortc's sender-report counters up to date so NACK answers and
    RTCP SRs stay valid. Keyframe requests, NACKs it cannot answer and REMBs go to `owner`.

    The history keeps, per slot, the outgoing sequence number and timestamp and the source
    packet (shared by all subscribers); the RtpPacket aiortc's `_retransmit` reads is only
    built when a NACK asks for it.
    """

    def __init__(self, kind: str, transport: Any, counters: ForwardingCounters) -> None:
        super().__init__(_IdleTrack(kind), transport)
        self.owner: DownTrack | None = None
        self.payload_type = 0
        self.layout = Layout(0, None, {})
        self.wire = Wire(transport)
        self._counters = counters
        self._history_seq = [-1] * RTP_HISTORY_SIZE
        self._history_ts = [0] * RTP_HISTORY_SIZE
        self._history_src: list[SourcePacket | None] = [None] * RTP_HISTORY_SIZE

    def setTransport(self, transport: Any) -> None:
        super().setTransport(transport)
        self.wire = Wire(transport)

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        self.payload_type = parameters.codecs[0].payloadType or 0
        self.layout = Layout.from_parameters(parameters)
        await super().send(parameters)

    def forward(self, source: SourcePacket, sequence_number: int, timestamp: int) -> int:
        """Send one prepared packet under this stream's numbers; returns the bytes written."""
        data = source.buffer(self.layout)
        SEQ_TS_SSRC.pack_into(data, 2, sequence_number, timestamp, self._ssrc)
        slot = sequence_number % RTP_HISTORY_SIZE
        self._history_seq[slot] = sequence_number
        self._history_ts[slot] = timestamp
        self._history_src[slot] = source
        sent = self.wire.send(data)
        self._RTCRtpSender__ntp_timestamp = source.ntp
        self._RTCRtpSender__rtp_timestamp = timestamp
        self._RTCRtpSender__octet_count += source.payload_size  # type: ignore[attr-defined]
        self._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]
        return sent

    def has_history(self, sequence_number: int) -> bool:
        return self._history_seq[sequence_number % RTP_HISTORY_SIZE] == sequence_number

    async def _retransmit(self, sequence_number: int) -> None:
        slot = sequence_number % RTP_HISTORY_SIZE
        source = self._history_src[slot]
        if self._history_seq[slot] != sequence_number or source is None:
            return
        packet = RtpPacket(
            payload_type=self.payload_type,
            marker=source.packet.marker,
            sequence_number=sequence_number,
            timestamp=self._history_ts[slot],
            ssrc=self._ssrc,
            payload=source.packet.payload,
        )
        packet.extensions.mid = self._RTCRtpSender__mid  # type: ignore[attr-defined]
        packet.extensions.abs_send_time = (ntp_now() >> 14) & 0x00FFFFFF  # sent now
        packet.extensions.audio_level = source.packet.extensions.audio_level
        self._RTCRtpSender__rtp_history[slot] = packet  # type: ignore[attr-defined]
        await super()._retransmit(sequence_number)

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        owner = self.owner
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            missing = []
            self._counters.nacks_received += len(packet.lost)
            if owner is not None and owner.starved:
                return  # the video is paused for this link: no repairs into it either
            for seq in packet.lost:
                if self.has_history(seq):
                    self._counters.retransmissions += 1
                    await self._retransmit(seq)
                else:
                    missing.append(seq)
            if missing:
                self._counters.nacks_not_held += len(missing)
                if owner is not None:
                    owner.nack_upstream(missing)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_FIR, RTCP_PSFB_PLI):
            self._counters.keyframe_requests_received += 1
            if owner is not None:
                owner.request_keyframe()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            # REMB: the subscriber's estimate of the node->subscriber path; the base class
            # would hand it to an encoder, which a forwarding sender has none of
            self._counters.rembs_received += 1
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if owner is not None and self._ssrc in ssrcs:
                owner.estimate_received(bitrate)
        else:
            if isinstance(packet, RtcpRrPacket):
                self._counters.receiver_reports_received += 1
            await super()._handle_rtcp_packet(packet)


class DownTrack:
    """One Subscription's media: a publication forwarded to one subscriber.

    A `Sink` of the publication's Feed, which it sees only as its `Upstream`.
    """

    def __init__(
        self,
        kind: Kind,
        sender: ForwardingSender,
        clock: Callable[[], float],
    ) -> None:
        self.kind = kind
        self.sender = sender
        sender.owner = self
        self.forwarder = Forwarder(
            clock_rate=CLOCK_RATE[kind],
            gate_on_keyframe=kind is Kind.VIDEO,
            initial_sequence_number=secrets.randbits(15),
            initial_timestamp=secrets.randbits(32),
        )
        self.upstream: Upstream | None = None
        self.ready = False  # set when the subscriber's DTLS is up
        self._clock = clock
        self._muted = False  # the publisher muted this publication
        self.shed = False  # video paused while the node is overloaded (media/shedding.py)
        # audio-only fallback: video paused while the subscriber's link cannot carry it
        self.fallback = VideoFallback() if kind is Kind.VIDEO else None

    def forward(self, source: SourcePacket, now: float) -> int:
        """Forward a prepared packet if the Forwarder says so; returns bytes sent (0: none).

        The caller (the Feed) adds the node's forwarding counters up once per packet.
        """
        if not self.ready:
            return 0
        t = self.forwarder.translate(
            source.ssrc, source.sequence_number, source.timestamp, source.keyframe, now
        )
        if t.verdict is _FORWARD:
            return self.sender.forward(source, t.sequence_number, t.timestamp)
        if t.verdict is _WAITING and self.upstream is not None:
            self.upstream.request_keyframe(now)
        return 0

    def request_keyframe(self) -> None:
        if self.upstream is not None:
            self.upstream.request_keyframe(self._clock())

    def estimate_received(self, bitrate: int) -> None:
        """The subscriber's REMB: what it can receive (bits/s) on this downlink."""
        if self.upstream is None or self.starved:
            return  # a paused video's estimate says nothing about the video
        now = self._clock()
        if self.fallback is not None:
            self.fallback.estimate(bitrate, now)
        self.upstream.subscriber_estimate(self, bitrate, now)

    @property
    def starved(self) -> bool:
        """Video paused by the audio-only fallback."""
        return self.fallback is not None and self.fallback.paused

    def nack_upstream(self, sequence_numbers: list[int]) -> None:
        if self.upstream is None:
            return
        source = [self.forwarder.source_sequence_number(s) for s in sequence_numbers]
        self.upstream.nack([s for s in source if s is not None])

    def pause(self) -> None:
        """The publisher muted."""
        self._muted = True
        self.apply_pause()

    def resume(self) -> None:
        """The publisher unmuted."""
        self._muted = False
        self.apply_pause()

    def restart(self) -> None:
        """A new source: the Forwarder continues from the last numbers sent."""
        self.forwarder.restart()

    def apply_pause(self) -> None:
        """Forward iff neither muted, starved nor shed; a resumed video starts on a
        keyframe."""
        if self._muted or self.starved or self.shed:
            self.forwarder.pause()
        elif self.forwarder.paused:
            self.forwarder.resume()
            self.request_keyframe()


_FORWARD = Verdict.FORWARD
_WAITING = Verdict.DROP_WAITING_KEYFRAME

