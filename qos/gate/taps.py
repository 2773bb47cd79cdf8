"""Where the gate reads aiortc's insides: the subject's viewers, jitter buffers, receiver
stats and RTCP, and the probe's encoder hand-outs.

aiortc keeps what the gate measures in name-mangled attributes (`RTCRtpReceiver.__jitter_buffer`,
`__remote_streams`, `RTCRtpSender.__lsr`); every such read is here, through the client's
accessors (`signalling.client.aiortc_compat`), so `GateRun` (`qos.gate.run`) does no aiortc
plumbing and the figures (`qos.gate.figures`) none at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import av
import structlog
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.ids import Kind
from qos.probe_tracks import ProbeVideoTrack
from signalling.client import Client, RemoteDownlink
from signalling.client.aiortc_compat import (
    private,
    sender_rtcp_handler,
    sender_ssrc,
    set_receiver_internal,
    set_sender_rtcp_handler,
)

from .counters import SequenceCounter
from .figures import jitter_ms, mean_rtt, rtt_from_report

__all__ = ["FrameHandler", "ReceiveTap", "RttTap", "Viewer", "tap_handouts"]

log = structlog.get_logger(__name__)

FrameHandler = Callable[[str, Any, float], None]
"""(kind, decoded frame, monotonic seconds when it was obtained)."""

StreamKey = tuple[int, int]
"""(id of the peer connection, SSRC)."""


class _Discard:
    """Stands in for a receiver's jitter buffer: the packets were counted (RTCP, REMB,
    NACK happen before it), nothing is decoded."""

    def add(self, packet: Any) -> tuple[bool, None]:
        return False, None


class Viewer:
    """Decodes what `client` receives from `publisher`, following its current downlink
    (a reconnect brings a new one), and hands every frame to `on_frame`.

    Without `on_frame` nothing is measured, and nothing is decoded: the receivers still
    report, estimate bandwidth and NACK as a learner's would, but in a real lesson each
    learner decodes on its own machine, while here one process would decode for all of
    them and its event loop would lag (1:3 on 2 cores: RTT p95 over 1 s from that alone)."""

    def __init__(
        self,
        client: Client,
        publisher: str,
        on_frame: FrameHandler | None = None,
        on_downlink: Callable[[RemoteDownlink], None] | None = None,
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.on_frame = on_frame
        self.on_downlink = on_downlink
        self.downlink: RemoteDownlink | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def poll(self) -> None:
        downlink = self.client.downlink_from(self.publisher)
        if downlink is None:
            return
        if downlink is not self.downlink:
            for task in self._tasks.values():
                task.cancel()
            self._tasks.clear()
            self.downlink = downlink
            if self.on_frame is None:
                for receiver in downlink.pc.getReceivers():
                    pipeline = private(receiver, "jitter_buffer")
                    if hasattr(pipeline, "stop"):
                        pipeline.stop()  # the client's browser-like pipeline
                    set_receiver_internal(receiver, "jitter_buffer", _Discard())
            if self.on_downlink is not None:
                self.on_downlink(downlink)
        if self.on_frame is None:
            return
        for kind, track in list(downlink.tracks.items()):
            if kind.value not in self._tasks:
                self._tasks[kind.value] = asyncio.ensure_future(self._drain(kind.value, track))

    async def _drain(self, kind: str, track: MediaStreamTrack) -> None:
        """Every track must be read: aiortc queues decoded frames without bound."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.on_frame is not None:
                try:
                    self.on_frame(kind, frame, time.monotonic())
                except Exception:
                    log.exception("gate_frame_failed", publisher=self.publisher)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()


class ReceiveTap:
    """The subject's downlinks: unique packets counted as they reach the jitter buffers
    (after RTX), and the receivers' own stream statistics (before retransmission)."""

    def __init__(self) -> None:
        self.downlinks: list[RemoteDownlink] = []
        self.sequences: dict[StreamKey, tuple[str, SequenceCounter]] = {}

    def tap(self, downlink: RemoteDownlink) -> None:
        """Count from now on what reaches `downlink`'s jitter buffers."""
        self.downlinks.append(downlink)
        for transceiver in downlink.pc.getTransceivers():
            jitter_buffer = private(transceiver.receiver, "jitter_buffer")
            if jitter_buffer is None:
                continue
            inner = jitter_buffer.add
            kind, pc_key = transceiver.kind, id(downlink.pc)

            def add(packet: Any, inner: Any = inner, kind: str = kind, pc_key: int = pc_key
                    ) -> Any:
                entry = self.sequences.get((pc_key, packet.ssrc))
                if entry is None:
                    entry = self.sequences[(pc_key, packet.ssrc)] = (kind, SequenceCounter())
                entry[1].add(packet.sequence_number)
                return inner(packet)

            jitter_buffer.add = add

    def counts(self, kind: str) -> dict[Any, tuple[int, int]]:
        """(lost, expected) after retransmission of every stream of `kind`, cumulative."""
        return {key: (c.lost, c.expected) for key, (k, c) in self.sequences.items() if k == kind}

    def stream_figures(self) -> tuple[float | None, float | None, dict[Any, tuple[int, int]]]:
        """Audio jitter, video jitter (ms, current downlink) and the network counters of
        every video stream (lost, received) before retransmission."""
        jitter: dict[str, float] = {}
        network: dict[Any, tuple[int, int]] = {}
        current = self.downlinks[-1] if self.downlinks else None
        for downlink in self.downlinks:
            for receiver in downlink.pc.getReceivers():
                streams = private(receiver, "remote_streams") or {}
                for ssrc, stream in streams.items():
                    entry = self.sequences.get((id(downlink.pc), ssrc))
                    if entry is None:  # an RTX stream, or nothing reached the buffer yet
                        continue
                    kind = entry[0]
                    if kind == Kind.VIDEO.value:
                        network[(id(downlink.pc), ssrc)] = (
                            stream.packets_lost, stream.packets_received)
                    if downlink is current:
                        jitter[kind] = jitter_ms(kind, stream.jitter)
        return jitter.get("audio"), jitter.get("video"), network


class RttTap:
    """An RTT sample from every receiver report on the subject's (current) uplink.

    Computed as aiortc and RFC 3550 do (now - LSR time - DLSR), but not smoothed:
    aiortc's `roundTripTime` is an average with weight 0.85 on the past, so one bad
    early sample lingers for ~15 s. webrtc-stats' `roundTripTime` is the latest
    measurement, which is what this reports.
    """

    def __init__(self) -> None:
        self._uplink: RTCPeerConnection | None = None
        self._samples: list[float] = []

    def watch(self, uplink: RTCPeerConnection | None) -> None:
        """Tap `uplink`'s senders unless they are tapped already (None: no uplink yet)."""
        if uplink is None or uplink is self._uplink:
            return
        self._uplink = uplink
        for sender in uplink.getSenders():
            inner = sender_rtcp_handler(sender)

            async def handle(packet: Any, sender: Any = sender, inner: Any = inner) -> None:
                lsr, lsr_time = private(sender, "lsr"), private(sender, "lsr_time")
                for report in getattr(packet, "reports", ()):
                    if (report.ssrc == sender_ssrc(sender) and lsr is not None
                            and lsr_time is not None and report.lsr == lsr and report.dlsr):
                        rtt = rtt_from_report(time.time(), lsr_time, report.dlsr)
                        if rtt is not None:
                            self._samples.append(rtt)
                await inner(packet)

            set_sender_rtcp_handler(sender, handle)

    def reset(self) -> None:
        self._samples = []

    def take(self) -> float | None:
        """Mean of the RTT samples since the last call; None if no report arrived."""
        samples, self._samples = self._samples, []
        return mean_rtt(samples)


def tap_handouts(video: ProbeVideoTrack, on_handout: Callable[[int], None]) -> None:
    """Hand `on_handout` the timestamp of every frame the probe gives its encoder."""
    inner = video.recv

    async def recv() -> av.VideoFrame:
        frame = await inner()
        if frame.pts is not None:
            on_handout(frame.pts)
        return frame

    video.recv = recv  # type: ignore[method-assign]
