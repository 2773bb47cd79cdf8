"""One recorded track: a bounded queue in, a muxing thread that runs the sans-IO core
(frames, clock, cutter, spans) and writes WebM segments, sealing each one it closes."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from media.ids import CLOCK_RATE, Kind
from media.rtp import ts_diff

from .clock import ClockChange, SenderClock, Stamped, TrackClock
from .frames import Frame, Vp8Assembler, vp8_size
from .ids import TrackKey
from .segments import SegmentCutter, Span, Spans
from .session import SessionFiles
from .webm import SegmentFile

log = structlog.get_logger(__name__)

QUEUE_PACKETS = 2000  # ~8 s of 2 Mbit/s video; a full queue drops and asks for a keyframe
IDLE_S = 0.5
GAP_S = {Kind.AUDIO: 0.5, Kind.VIDEO: 1.0}


class TrackRecorder:
    """The muxing side of one track. `put` never blocks (the sink calls it on the loop)."""

    def __init__(
        self, files: SessionFiles, key: TrackKey, sender: SenderClock,
        request_keyframe: Callable[[], None], *, segment_s: float = 4.0,
        queue_packets: int = QUEUE_PACKETS,
    ) -> None:
        self.files = files
        self.key = key
        self.video = key.kind is Kind.VIDEO
        self.rate = CLOCK_RATE[key.kind]
        self.clock: TrackClock[Frame] = TrackClock(self.rate, sender)
        self.cutter = SegmentCutter(self.video, duration=segment_s)
        self.spans = Spans(GAP_S[key.kind])
        self.frames = Vp8Assembler()
        self._request_keyframe = request_keyframe
        self.queue: queue.Queue[tuple[Any, ...]] = queue.Queue(queue_packets)
        self.segment: SegmentFile | None = None
        self.sealed = 0
        self.dropped = 0
        self._last_audio: tuple[int, int] | None = None  # (ssrc, ts)
        self._thread = threading.Thread(target=self._run, name=f"rec-{key.name}", daemon=True)
        self._thread.start()

    def put(self, item: tuple[Any, ...]) -> bool:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def end(self, at: float) -> None:
        """The track ends (its publication went, or the recording stopped)."""
        self.queue.put(("end", at))  # may wait for room: the end must not be dropped

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # --- the muxing thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self.queue.get(timeout=IDLE_S)
            except queue.Empty:
                continue
            try:
                if item[0] == "end":
                    self._finish(item[1])
                    return
                self._handle(item)
            except Exception:
                log.exception("recording_track_failed", track=self.key.name)
                self._close_segment(last=False)
                self.cutter.closed()

    def _handle(self, item: tuple[Any, ...]) -> None:
        match item:
            case ("rtp", ssrc, seq, ts, marker, payload, arrival):
                if self.video:
                    frame, lost = self.frames.on_packet(ssrc, seq, ts, marker, payload, arrival)
                    if lost:
                        self.cutter.lost()
                        self._request_keyframe()
                    if frame is not None:
                        self._frame(frame)
                elif (self._last_audio is None or self._last_audio[0] != ssrc
                      or ts_diff(ts, self._last_audio[1]) >= 0):
                    self._last_audio = (ssrc, ts)
                    self._frame(Frame(ts, payload, False, arrival, ssrc))
            case ("sr", ssrc, ntp_s, rtp_ts):
                self.clock.sender_report(ssrc, ntp_s, rtp_ts)
            case ("dropped",):
                self.cutter.lost()
            case ("mute", at):
                self._write(self.clock.flush())
                self.spans.mute(at)
                self._close_segment(last=False)
                self.cutter.closed()
                self.files.event("mute", track=self.key.name, at=round(at, 3))
            case ("detached", at):  # the publication went (unpublished, left, stopped)
                self._write(self.clock.flush())
                self._close_segment(last=False)
                self.cutter.closed()
                self.files.event("track_detached", track=self.key.name, at=round(at, 3))
            case ("unmute", at):
                self._span(self.spans.unmute(at))
                self.files.event("unmute", track=self.key.name, at=round(at, 3))
                self._request_keyframe()
            case ("restart", at):
                self._write(self.clock.flush())
                self.frames.reset()
                self.files.event("source_changed", track=self.key.name, at=round(at, 3))

    def _frame(self, frame: Frame) -> None:
        self._write(self.clock.push(frame, frame.ssrc, frame.timestamp, frame.arrival))

    def _write(self, stamped: Stamped[Frame]) -> None:
        for change in stamped.changes:
            self._clock_event(change)
        for frame, pts in stamped.frames:
            self._write_frame(frame, pts)

    def _write_frame(self, frame: Frame, pts: int) -> None:
        t = pts / self.rate
        self._span(self.spans.on_frame(t))
        cut = self.cutter.on_frame(t, frame.keyframe, frame.arrival)
        if cut.request_keyframe:
            self._request_keyframe()
        if not cut.write:
            return
        if cut.open_segment or self.segment is None:
            self._close_segment(last=False)
            size = vp8_size(frame.data) if self.video else None
            width, height = size or (640, 480)
            self.segment = SegmentFile(
                self.files.open_path(self.key.name, self.cutter.sequence), self.key.kind,
                width, height)
            self.segment.sequence = self.cutter.sequence
        self.segment.write(frame.data, pts, frame.keyframe)

    def _close_segment(self, last: bool) -> None:
        segment, self.segment = self.segment, None
        if segment is None:
            return
        try:
            segment.close()
        except Exception:
            log.exception("recording_segment_close_failed", track=self.key.name)
        sequence = segment.sequence
        self.files.seal_open(self.key.name, sequence, segment.first_pts or 0,
                             segment.last_pts or 0, segment.packets, last=last)
        self.sealed = sequence + 1

    def _finish(self, at: float) -> None:
        self._write(self.clock.flush())
        if self.segment is not None:
            self._close_segment(last=True)
        elif self.sealed:
            self.files.seal_terminator(self.key.name, self.sealed)
        self.files.event("track_ended", track=self.key.name, at=round(at, 3),
                         dropped=self.dropped, lost_frames=self.frames.lost,
                         cpu_s=round(time.thread_time(), 3))  # this muxing thread's CPU

    def _span(self, span: Span | None) -> None:
        if span is not None:
            self.files.event("span", kind=span.kind, track=self.key.name,
                             start=round(span.start, 3), end=round(span.end, 3))

    def _clock_event(self, change: ClockChange) -> None:
        self.files.event(
            "clock_" + change.kind, track=self.key.name, ssrc=change.ssrc,
            at=round(change.at, 3), step_ms=round(change.step_s * 1000, 2),
            slope=round(change.slope, 6), **({"held": change.held} if change.held else {}))
