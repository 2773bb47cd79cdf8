"""aiortc tracks that publish the probe's media (raw frames, which aiortc encodes).

Both tracks of a pair share one epoch: video frame ``i`` is due at ``epoch + i/fps`` and
audio frame ``k`` at ``epoch + k·20 ms``, so beeps leave with their flashes. Each video
frame is stamped with the monotonic clock's reading (ms) when it is handed to aiortc; the
receiving :class:`qos.probe.ProbeAnalyzer` must use the same clock (same machine).

A caller that falls more than ``MAX_BURST`` frames behind skips slots (their ids are never
sent); ``frames_skipped`` counts them, so a gate can tell sender stalls from network drops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from qos.probe_source import ProbeConfig, audio_frame, video_frame

__all__ = ["MAX_BURST", "ProbeAudioTrack", "ProbeEpoch", "ProbeVideoTrack", "probe_tracks"]

MAX_BURST = 3
"""Frames a late caller may get without waiting before slots are skipped."""
VIDEO_TIME_BASE = Fraction(1, 90_000)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class ProbeEpoch:
    """The shared start of a pair of probe tracks: set by the first ``recv`` of either."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.start: float | None = None

    def now(self) -> float:
        """Seconds since the epoch (starting it if needed)."""
        now = self.clock()
        if self.start is None:
            self.start = now
        return now - self.start


class _PacedTrack(MediaStreamTrack):
    """Hands out slot ``n`` at ``epoch + n·period``; skips slots when far behind."""

    def __init__(self, epoch: ProbeEpoch, period: float, sleep: Sleep) -> None:
        super().__init__()
        self._epoch = epoch
        self._period = period
        self._sleep = sleep
        self._slot = -1
        self.frames_sent = 0
        self.frames_skipped = 0

    async def _next_slot(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        elapsed = self._epoch.now()
        slot = max(self._slot + 1, int(elapsed / self._period) - MAX_BURST)
        self.frames_skipped += slot - self._slot - 1
        delay = slot * self._period - elapsed
        if delay > 0:
            await self._sleep(delay)
        if self.readyState != "live":
            raise MediaStreamError
        self._slot = slot
        self.frames_sent += 1
        return slot


class ProbeVideoTrack(_PacedTrack):
    """Stamped, flashing probe video (yuv420p ``VideoFrame``, pts in 1/90000 s)."""

    kind = "video"

    def __init__(self, config: ProbeConfig, epoch: ProbeEpoch, sleep: Sleep) -> None:
        super().__init__(epoch, 1.0 / config.fps, sleep)
        self.config = config

    async def recv(self) -> av.VideoFrame:
        """The next frame, stamped with its id and the clock's time in ms."""
        slot = await self._next_slot()
        capture_ms = int(self._epoch.clock() * 1000.0) & 0xFFFFFFFF
        frame = video_frame(self.config, slot, capture_ms)
        frame.pts = slot * 90_000 // self.config.fps
        frame.time_base = VIDEO_TIME_BASE
        return frame


class ProbeAudioTrack(_PacedTrack):
    """Beeping probe audio (mono s16 ``AudioFrame`` of 20 ms, pts in samples)."""

    kind = "audio"

    def __init__(self, config: ProbeConfig, epoch: ProbeEpoch, sleep: Sleep) -> None:
        super().__init__(epoch, config.audio_frame_samples / config.sample_rate, sleep)
        self.config = config

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms of audio."""
        return audio_frame(self.config, await self._next_slot())


def probe_tracks(
    config: ProbeConfig | None = None,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> tuple[ProbeAudioTrack, ProbeVideoTrack]:
    """A paired audio and video probe track sharing one epoch and ``clock`` (seconds)."""
    config = config or ProbeConfig()
    epoch = ProbeEpoch(clock)
    return ProbeAudioTrack(config, epoch, sleep), ProbeVideoTrack(config, epoch, sleep)
