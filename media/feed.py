"""The live side of a Publication: its current source receiver and the Sinks it feeds.

A Feed outlives the publisher's peer connection: when the publisher comes back on a new
one, the new receiver is attached to the same Feed and the subscriptions continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aiortc import RTCRtpReceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from . import bandwidth
from .aiortc_compat import drive
from .bandwidth import BitrateCap, Remb
from .counters import ForwardingCounters
from .fastpath import SourcePacket, ntp_now, send_rtcp_fast
from .ids import CLOCK_RATE, Identity, Kind, PublicationId
from .interfaces import SenderReportSink, Sink
from .keyframes import KeyframeThrottle
from .lateness import LateBurst
from .nacks import NackList
from .rtp import seq_diff, vp8_starts_keyframe

log = structlog.get_logger(__name__)

FALLBACK_CHECK_S = 0.5
RESUMED_AFTER_S = 1.0
"""A source silent this long that sends again with packets missing (same connection: its
link came back; not a node that was starved, whose socket kept them all) is treated as a
new source: its Sinks go on from the last numbers sent (video from a
keyframe, asked for at once) and the gap is not NACKed. The packets sent meanwhile are
lost and later frames refer to them (issue 17: a browser kept its peer connections
through a 5 s cut; the tutor's decoder got no picture for 8 s, NACKing the gap)."""

SendRtcp = Callable[[AnyRtcpPacket], Coroutine[Any, Any, None]]


class PacketTap:
    """Stands in for aiortc's jitter buffer: hands every packet to the Feed, decodes nothing.

    aiortc's receiver has already done REMB, receiver statistics and RTX unwrapping when it
    calls `add()` (NACKs are the Feed's: `media.nacks`); returning (False, None) means no
    PLI and no frame, so the decoder thread stays idle.
    """

    def __init__(self, feed: Feed, receiver: RTCRtpReceiver) -> None:
        self.feed = feed
        self.receiver = receiver

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.feed.on_packet(self.receiver, packet)
        return False, None


class Feed:
    """A Publication's live source and its outputs (the `Upstream` its Sinks see).

    Every packet of the current receiver goes to each Sink (subscribers' DownTracks, the
    recorder). The Feed also speaks for its Sinks to the publisher: keyframe requests
    (throttled), NACKs (its own NACK list for video), and the REMB capped by the Sinks'
    estimates.
    """

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
        self.sinks: list[Sink] = []
        # the Sinks that want sender reports, found when added (a runtime Protocol check
        # per Sink per report cost ~8 µs each: 16 subscribers, 2 reports a second)
        self._report_sinks: list[SenderReportSink] = []
        self.receiver: RTCRtpReceiver | None = None
        self.source_ssrc: int | None = None
        self.muted = False
        self.last_packet_at: float | None = None
        self._last_seq: int | None = None
        self._throttle = KeyframeThrottle(0.5)
        self._late = LateBurst(CLOCK_RATE[kind])  # a link that came back flushes old packets
        self._counters = counters
        self._kind_counters = counters.by_kind[kind]
        self._clock = clock
        self._background: set[asyncio.Future[Any]] = set()
        # congestion control (video): the publisher is sent min(uplink, subscribers) as REMB
        self.bitrate_cap = (
            BitrateCap(bandwidth.DEFAULT_POLICY) if kind is Kind.VIDEO else None
        )
        self._send_rtcp: SendRtcp | None = None  # the receiver's own, unwrapped
        self._remb_ssrcs: list[int] = []  # the media the uplink REMB is about
        # audio-only fallback (video): the rate forwarded, measured every FALLBACK_CHECK_S
        self.video_bps = 0.0
        self._bytes = 0
        self._next_check: float | None = None
        self.nacks = NackList() if kind is Kind.VIDEO else None  # replaces aiortc's

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Take packets from this receiver from now on (a new publisher connection)."""
        self.receiver = receiver  # the replaced one's late packets are dropped (on_packet)
        self.source_ssrc = None
        self.last_packet_at = None
        self._last_seq = None
        self._throttle = KeyframeThrottle(0.5)  # the new source is asked for one at once
        self._late = LateBurst(CLOCK_RATE[self.kind])
        receiver._RTCRtpReceiver__jitter_buffer = PacketTap(self, receiver)  # type: ignore[attr-defined]
        if self.nacks is not None:
            receiver._RTCRtpReceiver__nack_generator = None  # type: ignore[attr-defined]
            self.nacks = NackList()  # a new connection numbers its packets afresh
        if isinstance(receiver, RTCRtpReceiver):  # not a unit test's stand-in
            send_rtcp_fast(receiver)  # before the REMB cap wraps it
        if self.bitrate_cap is not None:
            self._intercept_remb(receiver)
        self._watch_sender_reports(receiver)

    def _watch_sender_reports(self, receiver: RTCRtpReceiver) -> None:
        """Hand the publisher's RTCP sender reports to the Sinks that want them (aiortc's
        receiver still handles each report as before)."""
        handle = getattr(receiver, "_handle_rtcp_packet", None)
        if handle is None:  # not an aiortc receiver (a unit test's stand-in)
            return

        async def handle_rtcp(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpSrPacket) and receiver is self.receiver:
                now = self._clock()
                info = packet.sender_info
                for sink in self._report_sinks:
                    sink.sender_report(packet.ssrc, info.ntp_timestamp,
                                       info.rtp_timestamp, now)
            await handle(packet)

        receiver._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]

    def _intercept_remb(self, receiver: RTCRtpReceiver) -> None:
        """Cap the REMBs aiortc's receiver sends the publisher (from its estimate of the
        publisher->node path) with the subscribers' estimates."""
        send = receiver._send_rtcp
        self._send_rtcp = send
        self._remb_ssrcs = []
        if self.bitrate_cap is not None:
            self.bitrate_cap.uplink = None

        async def send_rtcp(packet: AnyRtcpPacket) -> None:
            if (
                isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP
                and receiver is self.receiver
            ):
                packet = self._capped(packet)
            await send(packet)

        receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]

    def _capped(self, packet: RtcpPsfbPacket) -> RtcpPsfbPacket:
        assert self.bitrate_cap is not None
        try:
            bitrate, ssrcs = unpack_remb_fci(packet.fci)
        except ValueError:
            return packet
        self._remb_ssrcs = ssrcs
        remb = self.bitrate_cap.uplink_estimate(bitrate, self._clock())
        self._noted(remb, uplink=bitrate)
        if remb.bitrate == bitrate:
            return packet
        return RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=packet.ssrc, media_ssrc=packet.media_ssrc,
            fci=pack_remb_fci(remb.bitrate, ssrcs),
        )

    def subscriber_estimate(self, sink: Sink, bitrate: int, now: float) -> None:
        """A subscriber's REMB for this publication; a fall is passed on to the publisher
        at once."""
        if self.bitrate_cap is not None:
            self._send_remb(self.bitrate_cap.subscriber_estimate(sink, bitrate, now))

    def _send_remb(self, remb: Remb | None) -> None:
        if remb is None or self.receiver is None or self._send_rtcp is None:
            return
        self._noted(remb, uplink=self.bitrate_cap.uplink if self.bitrate_cap else None)
        rtcp_ssrc = self.receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        ssrcs = self._remb_ssrcs or ([self.source_ssrc] if self.source_ssrc is not None else [])
        if rtcp_ssrc is None or not ssrcs:
            return
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
            fci=pack_remb_fci(remb.bitrate, ssrcs),
        )
        drive(self._send_rtcp(packet), self._background)

    def _noted(self, remb: Remb, uplink: int | None) -> None:
        if remb.notable:
            log.info(
                "publisher_bitrate_cap_changed", publication=self.publication_id,
                bitrate=remb.bitrate, limit=remb.limit.value, uplink_estimate=uplink,
                subscribers=len(self.sinks),
            )

    def add(self, sink: Sink) -> None:
        sink.upstream = self
        if self.muted:
            sink.pause()
        self.sinks.append(sink)
        if isinstance(sink, SenderReportSink):
            self._report_sinks.append(sink)
        # no keyframe request yet: a DownTrack asks once its transport is connected,
        # so the keyframe is not spent before the subscriber can receive it

    def remove(self, sink: Sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)
        gone: object = sink
        self._report_sinks = [s for s in self._report_sinks if s is not gone]
        sink.upstream = None
        if self.bitrate_cap is not None:
            self._send_remb(self.bitrate_cap.forget(sink, self._clock()))

    def restart_sinks(self) -> None:
        """A new source (re-publish): every Sink continues its stream from the last sent."""
        for sink in self.sinks:
            sink.restart()

    def on_packet(self, receiver: RTCRtpReceiver, packet: RtpPacket) -> None:
        if receiver is not self.receiver:
            return
        now = self._clock()
        if self._late.late(packet.timestamp, now):
            return  # queued while the publisher's link was down: seconds old (lateness.py)
        resumed = (self.last_packet_at is not None and self._last_seq is not None
                   and now - self.last_packet_at >= RESUMED_AFTER_S
                   and seq_diff(packet.sequence_number, self._last_seq) > 1)  # some lost
        self.source_ssrc = packet.ssrc
        self.last_packet_at = now
        self._last_seq = packet.sequence_number
        if resumed:  # its link is back: what it sent meanwhile is lost, frames refer to it
            self.restart_sinks()  # the subscribers' streams go on without a gap to NACK
            if self.nacks is not None:
                self.nacks = NackList()  # nor does the node ask for what was lost
            self._throttle = KeyframeThrottle(0.5)
            self.request_keyframe(now)
        counters = self._kind_counters
        counters.packets_received += 1
        if self.nacks is not None:
            self.nacks.on_packet(packet.sequence_number, now)
            self._send_nacks(self.nacks.due(now))
        if not self.sinks:
            return
        if self.bitrate_cap is not None:
            self._bytes += len(packet.payload) + 12
            if self._next_check is None:
                self._next_check = now + FALLBACK_CHECK_S
            elif now >= self._next_check:
                self._measure(now)
        # everything that does not depend on the subscriber is done once, here
        keyframe = self.kind is Kind.VIDEO and vp8_starts_keyframe(packet.payload)
        source = SourcePacket(packet, keyframe, ntp_now())
        forwarded = sent = 0
        for sink in self.sinks:
            size = sink.forward(source, now)
            if size:
                forwarded += 1
                sent += size
        counters.packets_forwarded += forwarded
        counters.bytes_forwarded += sent

    def _measure(self, now: float) -> None:
        """The video's rate forwarded to each subscriber (bit/s, smoothed), for the
        audio-only fallback (`RoomMedia.check_fallback`)."""
        assert self._next_check is not None
        elapsed = now - self._next_check + FALLBACK_CHECK_S
        rate = self._bytes * 8 / elapsed if elapsed > 0 else 0.0
        self.video_bps = rate if not self.video_bps else 0.5 * self.video_bps + 0.5 * rate
        self._bytes = 0
        self._next_check = now + FALLBACK_CHECK_S

    def drop_estimate(self, sink: Sink, now: float) -> None:
        """A subscriber whose video is paused no longer holds the publisher back."""
        if self.bitrate_cap is not None:
            self._send_remb(self.bitrate_cap.forget(sink, now))

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        for sink in self.sinks:
            if muted:
                sink.pause()
            else:
                sink.resume()

    def request_keyframe(self, now: float) -> None:
        if self.kind is not Kind.VIDEO or self.receiver is None or self.source_ssrc is None:
            return
        if self._throttle.allow(now):
            self._counters.keyframe_requests_sent += 1
            drive(self.receiver._send_rtcp_pli(self.source_ssrc), self._background)

    def nack(self, sequence_numbers: list[int]) -> None:
        """A subscriber asked for packets the node does not have: ask the publisher.

        Not for video: the node's own NACK list already asks for every packet the node
        misses, as long as it is worth asking (a subscriber would repeat a given-up one)."""
        if self.nacks is None:
            self._send_nacks(sequence_numbers)

    def _send_nacks(self, sequence_numbers: list[int]) -> None:
        if not sequence_numbers or self.receiver is None or self.source_ssrc is None:
            return
        self._counters.nacks_sent_upstream += len(sequence_numbers)
        drive(
            self.receiver._send_rtcp_nack(self.source_ssrc, sorted(sequence_numbers)),
            self._background,
        )
