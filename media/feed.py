"""The live side of a Publication: its current source receiver and the DownTracks it feeds.

A Feed outlives the publisher's peer connection: when the publisher comes back on a new
one, the new receiver is attached to the same Feed and the subscriptions continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from .aiortc_compat import drive
from .counters import ForwardingCounters
from .downlink import DownTrack
from .fastpath import SourcePacket, ntp_now
from .ids import Identity, Kind, PublicationId
from .keyframes import KeyframeThrottle
from .rtp import vp8_starts_keyframe


class PacketTap:
    """Stands in for aiortc's jitter buffer: hands every packet to the Feed, decodes nothing.

    aiortc's receiver has already done REMB, receiver statistics, RTX unwrapping and NACK
    generation when it calls `add()`; returning (False, None) means no PLI and no frame,
    so the decoder thread stays idle.
    """

    def __init__(self, feed: Feed, receiver: RTCRtpReceiver) -> None:
        self.feed = feed
        self.receiver = receiver

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.feed.on_packet(self.receiver, packet)
        return False, None


class Feed:
    def __init__(
        self,
        publication_id: PublicationId,
        owner: Identity,
        kind: Kind,
        counters: ForwardingCounters,
        clock: Callable[[], float],
    ) -> None:
        self.publication_id = publication_id
        self.owner = owner
        self.kind = kind
        self.down_tracks: list[DownTrack] = []
        self.receiver: RTCRtpReceiver | None = None
        self.source_ssrc: int | None = None
        self.muted = False
        self.last_packet_at: float | None = None
        self._throttle = KeyframeThrottle(0.5)
        self._counters = counters
        self._kind_counters = counters.by_kind[kind]
        self._clock = clock
        self._background: set[asyncio.Future[Any]] = set()

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Take packets from this receiver from now on (a new publisher connection)."""
        self.receiver = receiver
        self.source_ssrc = None
        self.last_packet_at = None
        receiver._RTCRtpReceiver__jitter_buffer = PacketTap(self, receiver)  # type: ignore[attr-defined]

    def add(self, down_track: DownTrack) -> None:
        down_track.feed = self
        if self.muted:
            down_track.pause()
        self.down_tracks.append(down_track)
        # no keyframe request yet: the DownTrack asks once its transport is connected,
        # so the keyframe is not spent before the subscriber can receive it

    def remove(self, down_track: DownTrack) -> None:
        if down_track in self.down_tracks:
            self.down_tracks.remove(down_track)
        down_track.feed = None

    def on_packet(self, receiver: RTCRtpReceiver, packet: RtpPacket) -> None:
        if receiver is not self.receiver:
            return
        now = self._clock()
        self.source_ssrc = packet.ssrc
        self.last_packet_at = now
        counters = self._kind_counters
        counters.packets_received += 1
        if not self.down_tracks:
            return
        # everything that does not depend on the subscriber is done once, here
        keyframe = self.kind is Kind.VIDEO and vp8_starts_keyframe(packet.payload)
        source = SourcePacket(packet, keyframe, ntp_now())
        forwarded = sent = 0
        for down_track in self.down_tracks:
            size = down_track.forward(source, now)
            if size:
                forwarded += 1
                sent += size
        counters.packets_forwarded += forwarded
        counters.bytes_forwarded += sent

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        for down_track in self.down_tracks:
            if muted:
                down_track.pause()
            else:
                down_track.resume()

    def request_keyframe(self, now: float) -> None:
        if self.kind is not Kind.VIDEO or self.receiver is None or self.source_ssrc is None:
            return
        if self._throttle.allow(now):
            self._counters.keyframe_requests_sent += 1
            drive(self.receiver._send_rtcp_pli(self.source_ssrc), self._background)

    def nack(self, sequence_numbers: list[int]) -> None:
        if not sequence_numbers or self.receiver is None or self.source_ssrc is None:
            return
        self._counters.nacks_sent_upstream += len(sequence_numbers)
        drive(
            self.receiver._send_rtcp_nack(self.source_ssrc, sorted(sequence_numbers)),
            self._background,
        )
