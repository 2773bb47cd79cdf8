"""Segment boundaries, gap and mute spans (sans-IO: times passed in, decisions returned)."""

from __future__ import annotations

from dataclasses import dataclass

SEGMENT_S = 4.0
KEYFRAME_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class Cut:
    """What to do with one frame."""

    open_segment: bool  # close the open segment (if any) and open the next with this frame
    write: bool  # write the frame (False: video waiting for a keyframe)
    request_keyframe: bool  # ask the publisher for a keyframe now


class SegmentCutter:
    """Where a track's segments begin: every `duration` s of session time, and for video
    only on a keyframe (asked for at the start and at each boundary, again every
    `retry` s until one comes). Audio is cut on the first frame past the boundary."""

    def __init__(
        self, video: bool, duration: float = SEGMENT_S, retry: float = KEYFRAME_RETRY_S
    ) -> None:
        self.video = video
        self.duration = duration
        self.retry = retry
        self.sequence = -1  # of the open segment (the first is 0)
        self.open_at: float | None = None  # session time of the open segment's first frame
        self.need_keyframe = video  # a keyframe must come before anything is written
        self._asked_at: float | None = None

    def on_frame(self, t: float, keyframe: bool, now: float) -> Cut:
        """A frame at session time `t` (`keyframe`: a video keyframe), arriving `now`."""
        if self.video and self.need_keyframe and not keyframe:
            return Cut(False, False, self._ask(now))
        due = self.open_at is None or t - self.open_at >= self.duration
        if due and (keyframe or not self.video):
            self.need_keyframe = False
            self._asked_at = None
            self.open_at = t
            self.sequence += 1
            return Cut(True, True, False)
        return Cut(False, True, self._ask(now) if due else False)

    def closed(self) -> None:
        """The open segment was closed (mute, track ended, frames lost): the next frame
        opens a new one; video waits for a keyframe."""
        self.open_at = None
        self.need_keyframe = self.video

    def lost(self) -> None:
        """Frames were lost: video writes nothing more until a keyframe."""
        self.need_keyframe = self.video

    def _ask(self, now: float) -> bool:
        if self._asked_at is not None and now - self._asked_at < self.retry:
            return False
        self._asked_at = now
        return True


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of session time with no media of a track (a gap or a mute)."""

    kind: str  # "gap" | "mute"
    start: float
    end: float


class Spans:
    """Gaps (no frame for `gap_s`) and mutes of one track, in session time."""

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._last: float | None = None
        self._muted_at: float | None = None

    def on_frame(self, t: float) -> Span | None:
        last, self._last = self._last, t
        if last is not None and self._muted_at is None and t - last >= self.gap_s:
            return Span("gap", last, t)
        return None

    def mute(self, t: float) -> None:
        if self._muted_at is None:
            self._muted_at = t

    def unmute(self, t: float) -> Span | None:
        start, self._muted_at = self._muted_at, None
        return Span("mute", start, t) if start is not None else None
