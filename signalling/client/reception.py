"""Puts the browser-like receive pipeline (sans-IO core: `playout.py`) into aiortc receivers.

aiortc's `RTCRtpReceiver` unwraps RTX, keeps receiver statistics and REMB, then hands each
packet to its jitter buffer and each frame the buffer returns to a decoder thread. The
pipeline takes the jitter buffer's place: it returns no frame itself, and a task (one per
receiver, woken by packets and at each frame's playout time) sends NACKs and PLIs through
the receiver and puts due frames on the decoder queue. aiortc's own NACK generator is
switched off (the pipeline NACKs, and again each round trip).

Uses aiortc 1.16 internals (name-mangled receiver attributes); `install` checks they exist.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from media.rtp import vp8_starts_keyframe

from .aiortc_compat import (
    depayloaded,
    missing_receiver_internals,
    receiver_internal,
    send_nack,
    send_pli,
    set_receiver_internal,
)
from .playout import AudioAssembler, InPacket, Playout, SyncGroup, VideoAssembler

__all__ = ["ReceivePipeline", "install"]

log = structlog.get_logger(__name__)

TICK_S = 0.01
"""Longest sleep between two looks at the pipeline (NACK retries, give-ups)."""

def _vp8_frame_start(payload: bytes) -> bool:
    """S=1 and partition index 0 in the VP8 payload descriptor (RFC 7741)."""
    return bool(payload) and bool(payload[0] & 0x10) and not payload[0] & 0x07


class ReceivePipeline:
    """The stand-in for one receiver's jitter buffer, plus the task that drives it."""

    def __init__(self, receiver: Any, sync: SyncGroup) -> None:
        self.receiver = receiver
        self.kind: str = receiver_internal(receiver, "kind")
        if self.kind == "video":
            self.core: VideoAssembler | AudioAssembler = VideoAssembler(Playout(90_000, sync))
        else:
            self.core = AudioAssembler(Playout(48_000, sync, min_delay=0.02))
        self._queue = receiver_internal(receiver, "decoder_queue")
        self._mapper = receiver_internal(receiver, "timestamp_mapper")
        self._codecs: dict[int, Any] = receiver_internal(receiver, "codecs")
        self._codec: Any = None
        self._ssrc: int | None = None
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    # --- the jitter buffer's interface, called by the receiver --------------------------

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        data = depayloaded(packet)
        start = keyframe = False
        if self.kind == "video":
            start = _vp8_frame_start(packet.payload)
            keyframe = start and vp8_starts_keyframe(packet.payload)
        self._ssrc = packet.ssrc
        self._codec = self._codecs.get(packet.payload_type, self._codec)
        self.core.on_packet(InPacket(packet.sequence_number, packet.timestamp, bool(packet.marker),
                                     data, start, keyframe), time.monotonic())
        self._wake.set()
        return False, None

    # --- the task -----------------------------------------------------------------------

    async def _run(self) -> None:
        transport = self.receiver.transport
        while transport.state != "closed":
            now = time.monotonic()
            await self._apply(self.core.poll(now))
            due = self.core.next_due
            timeout = TICK_S if due is None else min(TICK_S, max(0.0, due - now))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _apply(self, actions: Any) -> None:
        if self._ssrc is None:
            return
        if actions.nack:
            await send_nack(self.receiver, self._ssrc, actions.nack)
        if actions.pli:
            await send_pli(self.receiver, self._ssrc)
        for frame in actions.frames:
            if self._codec is None:
                break
            self._queue.put((self._codec, JitterFrame(frame.data, self._mapper.map(
                frame.timestamp))))

    def stop(self) -> None:
        self._task.cancel()


def install(pc: Any) -> list[ReceivePipeline]:
    """Give every receiver of `pc` (after setRemoteDescription) the pipeline; one sync
    group per peer connection (the node sends one publisher per downlink)."""
    sync = SyncGroup()
    pipelines = []
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        missing = missing_receiver_internals(receiver)
        if missing:
            raise RuntimeError(f"aiortc receiver internals moved: {missing}")
        pipeline = ReceivePipeline(receiver, sync)
        set_receiver_internal(receiver, "jitter_buffer", pipeline)
        set_receiver_internal(receiver, "nack_generator", None)
        pipelines.append(pipeline)
    log.debug("reception_installed", receivers=len(pipelines))
    return pipelines
