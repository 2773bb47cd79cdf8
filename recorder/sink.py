"""RecordingSink: the recorder's `media.interfaces.Sink`, attached to a Feed like a
DownTrack. It never blocks the Feed: each packet goes into the track's bounded queue; when
the queue is full the packet is dropped, counted, and (video) everything up to the next
keyframe is dropped too, and a keyframe is asked for."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from media.fastpath import SourcePacket
from media.ids import Kind
from media.interfaces import Upstream

from .counters import RecorderCounters
from .freezes import FrameArrivals
from .ids import file_safe
from .track import TrackRecorder

NTP_SCALE = 1.0 / (1 << 32)


class RecordingSink:
    def __init__(
        self, track: TrackRecorder, start: float, clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop, counters: RecorderCounters,
    ) -> None:
        self.track = track
        self.video = track.key.kind is Kind.VIDEO
        self.start = start  # the session's time 0 on the node's clock
        self.clock = clock
        self.loop = loop
        self.counters = counters
        self.paused = False
        self._upstream: Upstream | None = None
        self._dropping = False
        self.attached = False
        self.arrivals = FrameArrivals()  # video freezes, put on the timeline

    # `upstream` is set by Feed.add and cleared by Feed.remove (the publication went)
    @property
    def upstream(self) -> Upstream | None:
        return self._upstream

    @upstream.setter
    def upstream(self, value: Upstream | None) -> None:
        was, self._upstream = self._upstream, value
        self.arrivals.reset()
        if value is not None and was is None:
            self.attached = True
            self.loop.call_soon(self.request_keyframe)
        elif value is None and was is not None:
            self.attached = False
            self.track.put(("detached", self.clock() - self.start))

    def __hash__(self) -> int:
        return id(self)

    def forward(self, source: SourcePacket, now: float) -> int:
        if self.paused:
            return 0
        if self._dropping:
            if self.video and not source.keyframe:
                return 0
            if not self.track.put(("dropped",)):
                return 0
            self._dropping = False
        packet = source.packet
        if self.video:
            self._frame_arrived(source.timestamp, now)
        if not self.track.put(("rtp", source.ssrc, source.sequence_number, source.timestamp,
                               packet.marker, packet.payload, now - self.start)):
            self._dropping = True
            self.counters.drops += 1
            if self._upstream is not None:
                self._upstream.request_keyframe(now)
        return 0  # nothing is sent on: the forwarding counters stay the subscribers'

    def _frame_arrived(self, timestamp: int, now: float) -> None:
        freeze = self.arrivals.on_packet(timestamp, now)
        if freeze is not None:  # rare: one fsynced line (docs/review.md)
            self.track.files.event(
                "freeze", track=self.track.key.name,
                participant=file_safe(self.track.key.participant),
                start=round(max(0.0, freeze.start - self.start), 3),
                end=round(freeze.end - self.start, 3), at=round(now - self.start, 3))

    def pause(self) -> None:
        self.paused = True
        self.arrivals.reset()
        self.track.put(("mute", self.clock() - self.start))

    def resume(self) -> None:
        self.paused = False
        self.track.put(("unmute", self.clock() - self.start))

    def restart(self) -> None:
        self.arrivals.reset()
        self.track.put(("restart", self.clock() - self.start))

    def sender_report(self, ssrc: int, ntp: int, rtp_timestamp: int, now: float) -> None:
        """An RTCP sender report of the publisher (the Feed's `SenderReportSink` hook)."""
        self.track.put(("sr", ssrc, ntp * NTP_SCALE, rtp_timestamp))

    def request_keyframe(self) -> None:
        if self._upstream is not None:
            self._upstream.request_keyframe(self.clock())

    def request_keyframe_threadsafe(self) -> None:
        """For the muxing thread: ask on the loop."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.request_keyframe)
