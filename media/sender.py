"""ForwardingSender: an aiortc RTCRtpSender fed with already-encoded RTP packets.

Its RTP goes out on the fast path (`media.fastpath`); so does its RTCP: the sender reports
aiortc's RTCP loop sends every 0.5-1.5 s are written with `struct` (`media.rtcp`) and
protected and sent by `Wire` without aiortc's packet objects and coroutine chain. The
feedback about its stream (receiver reports, NACK, PLI/FIR, REMB) arrives as plain calls
(`on_reports`, `on_nack`, ...) from `media.feedback`, which reads it off the socket; aiortc's
own `_handle_rtcp_packet` (still used if that path declined) is translated to the same
calls, so both paths behave the same.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from typing import Any, Protocol

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTT_ALPHA
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
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
)
from aiortc.stats import RTCRemoteInboundRtpStreamStats, RTCStatsReport

from . import rtcp
from .aiortc_compat import drive
from .counters import ForwardingCounters
from .fastpath import SEQ_TS_SSRC, Layout, SourcePacket, Wire, ntp_now
from .rtcp import ReportBlock, Reports


class SenderOwner(Protocol):
    """The subscription a sender carries (a DownTrack, media/downlink.py)."""

    @property
    def starved(self) -> bool: ...
    def nack_upstream(self, sequence_numbers: list[int]) -> None: ...
    def request_keyframe(self) -> None: ...
    def estimate_received(self, bitrate: int) -> None: ...


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
        self.owner: SenderOwner | None = None
        self.payload_type = 0
        self.layout = Layout(0, None, {})
        self.wire = Wire(transport)
        self._counters = counters
        self._history_seq = [-1] * RTP_HISTORY_SIZE
        self._history_ts = [0] * RTP_HISTORY_SIZE
        self._history_src: list[SourcePacket | None] = [None] * RTP_HISTORY_SIZE
        self._background: set[asyncio.Future[Any]] = set()
        self._sdes: tuple[str, bytes] | None = None  # (cname, its SDES packet)
        # the last receiver report about this stream, made into aiortc's remote-inbound
        # stats only when they are read (getStats): (time, reporter, received, lost,
        # jitter, round trip, fraction lost)
        self._remote: tuple[float, int, int, int, int, float | None, int] | None = None

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

    # --- RTCP to the subscriber ------------------------------------------------------

    async def _run_rtcp(self) -> None:
        """aiortc's loop (an SR + SDES every 0.5-1.5 s, a BYE at the end), on the fast path."""
        self._RTCRtpSender__rtcp_started.set()  # type: ignore[attr-defined]
        try:
            while True:
                await asyncio.sleep(0.5 + random.random())
                self.send_sender_report()
        finally:
            try:
                self.wire.send_rtcp(rtcp.bye(self._ssrc))
            finally:  # aiortc's stop() waits for this
                self._RTCRtpSender__rtcp_exited.set()  # type: ignore[attr-defined]

    def send_sender_report(self) -> None:
        ntp = self._RTCRtpSender__ntp_timestamp
        data = rtcp.sender_report(
            self._ssrc, ntp, self._RTCRtpSender__rtp_timestamp,
            self._RTCRtpSender__packet_count, self._RTCRtpSender__octet_count,  # type: ignore[attr-defined]
        )
        self._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
        self._RTCRtpSender__lsr_time = time.time()
        cname = self._RTCRtpSender__cname  # type: ignore[attr-defined]
        if cname is not None:
            if self._sdes is None or self._sdes[0] != cname:
                self._sdes = (cname, rtcp.sdes_cname(self._ssrc, cname))
            data += self._sdes[1]
        self.wire.send_rtcp(data)

    # --- RTCP from the subscriber ----------------------------------------------------

    def on_reports(self, reports: Reports, wall_time: float) -> None:
        """An RR (or SR) with a block about this stream (aiortc's RTT estimate and
        remote-inbound stats)."""
        if not reports.from_sender_report:
            self._counters.receiver_reports_received += 1
        for block in reports.blocks:
            if block.ssrc != self._ssrc:
                continue
            if self._RTCRtpSender__lsr == block.lsr and block.dlsr:
                rtt = wall_time - self._RTCRtpSender__lsr_time - block.dlsr / 65536
                previous = self._RTCRtpSender__rtt  # type: ignore[has-type]
                self._RTCRtpSender__rtt = (
                    rtt if previous is None else RTT_ALPHA * previous + (1 - RTT_ALPHA) * rtt
                )
            self._remote = (
                wall_time, reports.ssrc,
                self._RTCRtpSender__packet_count - block.packets_lost,  # type: ignore[attr-defined]
                block.packets_lost, block.jitter, self._RTCRtpSender__rtt, block.fraction_lost,
            )

    def on_nack(self, lost: list[int]) -> None:
        owner = self.owner
        self._counters.nacks_received += len(lost)
        if owner is not None and owner.starved:
            return  # the video is paused for this link: no repairs into it either
        missing = []
        for seq in lost:
            if self.has_history(seq):
                self._counters.retransmissions += 1
                drive(self._retransmit(seq), self._background)
            else:
                missing.append(seq)
        if missing:
            self._counters.nacks_not_held += len(missing)
            if owner is not None:
                owner.nack_upstream(missing)

    def on_keyframe_request(self) -> None:
        self._counters.keyframe_requests_received += 1
        if self.owner is not None:
            self.owner.request_keyframe()

    def on_remb(self, bitrate: int | None, ssrcs: list[int]) -> None:
        """REMB: the subscriber's estimate of the node->subscriber path (None: not a valid
        REMB). The base class would hand it to an encoder, which a forwarding sender has
        none of."""
        self._counters.rembs_received += 1
        if bitrate is not None and self.owner is not None and self._ssrc in ssrcs:
            self.owner.estimate_received(bitrate)

    async def getStats(self) -> RTCStatsReport:
        remote = self._remote
        if remote is not None:
            at, reporter, received, lost, jitter, rtt, fraction = remote
            self._RTCRtpSender__stats.add(RTCRemoteInboundRtpStreamStats(  # type: ignore[attr-defined]
                timestamp=datetime.datetime.fromtimestamp(at, datetime.UTC),
                type="remote-inbound-rtp", id="remote-inbound-rtp_" + str(id(self)),
                ssrc=reporter, kind=self.kind, transportId=self.transport._stats_id,
                packetsReceived=received, packetsLost=lost, jitter=jitter,
                roundTripTime=rtt, fractionLost=fraction,  # type: ignore[arg-type]  # aiortc's None
            ))
        return await super().getStats()

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        """aiortc's path (if `media.feedback` declined): the same calls."""
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            blocks = [ReportBlock(r.ssrc, r.fraction_lost, r.packets_lost, r.highest_sequence,
                                  r.jitter, r.lsr, r.dlsr) for r in packet.reports]
            self.on_reports(Reports(packet.ssrc, isinstance(packet, RtcpSrPacket), blocks),
                            time.time())
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self.on_nack(packet.lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_FIR, RTCP_PSFB_PLI):
            self.on_keyframe_request()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                self.on_remb(None, [])
                return
            self.on_remb(bitrate, ssrcs)
