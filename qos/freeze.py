"""Video freezes and pauses, as W3C webrtc-stats defines them and Chrome implements them.

Chrome (``video/video_quality_observer2.cc``), for each rendered frame after the first:

- the inter-frame interval d is added to Σd² (harmonic frame rate: span / Σd²);
- unless the stream was paused, d enters a moving average of the last 30 intervals; once
  it holds 5 intervals, d is a *freeze* if d ≥ max(3·avg, avg + 150 ms), avg being that
  average (which includes d itself) rounded down to a whole millisecond;
- a *pause* is more than 5 s without a frame: it is neither a freeze nor averaged.

Chrome learns of a pause from the stream going inactive; here it is a gap over 5 s, seen
when the next frame arrives (or at ``summary(end_ms)``).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

__all__ = [
    "FREEZE_MIN_INCREASE_MS",
    "FREEZE_MIN_SAMPLES",
    "FREEZE_WINDOW",
    "PAUSE_MS",
    "FreezeDetector",
    "FreezeSummary",
    "Stall",
    "StallKind",
]

FREEZE_WINDOW = 30
"""Intervals in the moving average (``kAvgInterframeDelaysWindowSizeFrames``)."""
FREEZE_MIN_SAMPLES = 5
"""Intervals needed before a freeze can be detected (``kMinFrameSamplesToDetectFreeze``)."""
FREEZE_MIN_INCREASE_MS = 150.0
"""Least increase over the average that is a freeze (``kMinIncreaseForFreezeMs``)."""
PAUSE_MS = 5000.0
"""A gap longer than this is a pause (webrtc-stats ``pauseCount``)."""


class StallKind(enum.Enum):
    """What a long gap between frames was."""

    FREEZE = "freeze"
    PAUSE = "pause"


@dataclass(frozen=True)
class Stall:
    """A freeze or pause: the gap between two rendered frames."""

    kind: StallKind
    start_ms: float
    """Render time of the frame before the gap."""
    duration_ms: float
    """Length of the gap."""


@dataclass(frozen=True)
class FreezeSummary:
    """Freeze figures of one video stream, comparable with webrtc-stats and Chrome's UMA."""

    frames: int
    """Frames rendered."""
    duration_ms: float
    """Session time: first to last frame (to ``end_ms`` if the trailing gap is a stall)."""
    freeze_count: int
    total_freeze_ms: float
    freeze_ratio: float
    """Total freeze time / session time (0 for an empty session)."""
    freezes_per_minute: float
    pause_count: int
    total_pause_ms: float
    harmonic_fps: float | None
    """Session time / Σ(interval²), in frames per second; ``None`` with fewer than 2 frames."""


class FreezeDetector:
    """Streaming freeze/pause detector: feed it the render time of each frame, in order."""

    def __init__(self) -> None:
        self._intervals: deque[float] = deque(maxlen=FREEZE_WINDOW)
        self._first_ms: float | None = None
        self._last_ms: float | None = None
        self._sum_sq_ms2 = 0.0
        self.frames = 0
        """Frames seen."""
        self.stalls: list[Stall] = []
        """Every freeze and pause so far, in order."""

    def on_frame(self, now_ms: float) -> Stall | None:
        """A frame was rendered at ``now_ms``; returns the freeze or pause that just ended."""
        last = self._last_ms
        if last is not None and now_ms < last:
            raise ValueError(f"frame time went backwards: {now_ms} < {last}")
        self.frames += 1
        self._last_ms = now_ms
        if last is None:
            self._first_ms = now_ms
            return None
        interval = now_ms - last
        self._sum_sq_ms2 += interval * interval
        kind = self._classify(interval, commit=True)
        if kind is None:
            return None
        stall = Stall(kind, last, interval)
        self.stalls.append(stall)
        return stall

    def _classify(self, interval: float, *, commit: bool) -> StallKind | None:
        if interval > PAUSE_MS:
            return StallKind.PAUSE
        window = self._intervals if commit else deque(self._intervals, maxlen=FREEZE_WINDOW)
        window.append(interval)
        if len(window) < FREEZE_MIN_SAMPLES:
            return None
        avg = math.floor(sum(window) / len(window))
        return StallKind.FREEZE if interval >= max(3 * avg, avg + FREEZE_MIN_INCREASE_MS) else None

    def summary(self, end_ms: float | None = None) -> FreezeSummary:
        """Figures so far. With ``end_ms``, the gap since the last frame counts as if a frame
        arrived at ``end_ms`` — but only when that gap is already a freeze or a pause."""
        stalls = list(self.stalls)
        first, last, sum_sq = self._first_ms, self._last_ms, self._sum_sq_ms2
        if end_ms is not None and last is not None and end_ms > last:
            kind = self._classify(end_ms - last, commit=False)
            if kind is not None:
                stalls.append(Stall(kind, last, end_ms - last))
                sum_sq += (end_ms - last) ** 2
                last = end_ms
        duration = last - first if first is not None and last is not None else 0.0
        freezes = [s.duration_ms for s in stalls if s.kind is StallKind.FREEZE]
        pauses = [s.duration_ms for s in stalls if s.kind is StallKind.PAUSE]
        return FreezeSummary(
            frames=self.frames,
            duration_ms=duration,
            freeze_count=len(freezes),
            total_freeze_ms=sum(freezes, 0.0),
            freeze_ratio=sum(freezes, 0.0) / duration if duration > 0 else 0.0,
            freezes_per_minute=len(freezes) * 60_000.0 / duration if duration > 0 else 0.0,
            pause_count=len(pauses),
            total_pause_ms=sum(pauses, 0.0),
            harmonic_fps=duration * 1000.0 / sum_sq if sum_sq > 0 else None,
        )
