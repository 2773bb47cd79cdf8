"""The end-to-end probe's receiving side: what a person would see and hear.

Feed :class:`ProbeAnalyzer` every decoded video frame and audio frame with the time it was
obtained (ms, on the same monotonic clock the sender stamped capture times with). It
measures, per video frame, glass-to-glass latency (receive time - stamped capture time) and
PSNR of the Y plane against the regenerated reference; over the stream, dropped, repeated
and out-of-order frames (from the stamped ids), freezes (:mod:`qos.freeze`, fed with the
frames that show a *new* picture, so a repeated picture freezes like a missing one), and
the audio/video offset from flash and beep onsets.

A/V offset = flash onset time - beep onset time, so **positive means audio leads**
(ITU-R BT.1359's sign: detectable at +45 ms / -125 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from qos.freeze import FreezeDetector, FreezeSummary
from qos.probe_source import ProbeConfig, draw_luma, flash_region
from qos.stamp import Luma, read_stamp
from qos.window import Stats, summarize

__all__ = [
    "PSNR_CAP_DB",
    "ProbeAnalyzer",
    "ProbeReport",
    "VideoObservation",
    "luma_plane",
    "psnr",
    "to_mono",
]

PSNR_CAP_DB = 100.0
"""PSNR reported for identical pictures (instead of infinity)."""
FLASH_LEVEL = 200.0
"""Mean luma of the flash patch above which the flash is on."""
BEEP_LEVEL = 0.1
"""Sample magnitude (fraction of full scale) above which the beep is on."""
QUIET_MS = 300.0
"""Silence needed before a loud sample starts a new beep."""
_WRAP = 1 << 32


def psnr(picture: Luma, reference: Luma) -> float:
    """PSNR in dB of one 8-bit plane against another, capped at :data:`PSNR_CAP_DB`."""
    if picture.shape != reference.shape:
        raise ValueError(f"shape {picture.shape} != reference {reference.shape}")
    diff = picture.astype(np.int32) - reference.astype(np.int32)
    mse = float(np.mean(diff * diff))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


def luma_plane(frame: av.VideoFrame) -> Luma:
    """The Y plane of a decoded frame (height x width, uint8; a view when the format allows)."""
    if frame.format.name not in ("yuv420p", "yuvj420p", "nv12"):
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : frame.width]


def to_mono(frame: av.AudioFrame) -> npt.NDArray[np.float64]:
    """An audio frame's first channel as floats in [-1, 1] (packed or planar, int or float)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    first = data[0] if frame.format.is_planar else data.reshape(-1, channels)[:, 0]
    if np.issubdtype(first.dtype, np.integer):
        return first.astype(np.float64) / float(np.iinfo(first.dtype).max + 1)
    return first.astype(np.float64)


@dataclass(frozen=True)
class VideoObservation:
    """What the analyzer read from one decoded frame."""

    frame_id: int | None
    """Stamped id; ``None`` if the stamp could not be read."""
    latency_ms: float | None
    """Receive time - stamped capture time."""
    flash: bool
    """The flash patch is lit."""
    psnr_db: float | None
    """Y-plane PSNR against the reference, if computed for this frame."""
    repeated: bool
    """The id was seen before: the same picture again."""


@dataclass(frozen=True)
class ProbeReport:
    """Everything the probe measured. Ratios are 0 when nothing was expected."""

    video_frames: int
    """Decoded frames fed in."""
    unreadable_frames: int
    """Frames whose stamp could not be read."""
    unique_frames: int
    expected_frames: int
    """Ids from the lowest to the highest seen."""
    dropped_frames: int
    """Expected ids never seen."""
    drop_ratio: float
    repeated_frames: int
    out_of_order_frames: int
    """New ids lower than one already seen."""
    latency_ms: Stats | None
    """Glass-to-glass latency per frame (first arrival of each id)."""
    psnr_db: Stats | None
    freezes: FreezeSummary
    flashes: int
    """Flash onsets seen (onset frame received)."""
    beeps: int
    """Beep onsets heard."""
    av_offset_ms: Stats | None
    """Flash onset - beep onset for each flash with a beep within half a period."""


class ProbeAnalyzer:
    """Pure analyzer of probe media; time is passed in, nothing is awaited or sent."""

    def __init__(self, config: ProbeConfig | None = None, *, psnr_every: int = 1) -> None:
        if psnr_every < 1:
            raise ValueError("psnr_every must be at least 1")
        self.config = config or ProbeConfig()
        self.psnr_every = psnr_every
        self._freeze = FreezeDetector()
        self._ids: set[int] = set()
        self._max_id: int | None = None
        self._frames = self._unreadable = self._repeated = self._late = 0
        self._latency: list[float] = []
        self._psnr: list[float] = []
        self._was_flash = False
        self._flash_ms: list[float] = []
        self._beep_ms: list[float] = []
        self._last_loud_ms: float | None = None

    def on_video_frame(self, frame: av.VideoFrame, now_ms: float) -> VideoObservation:
        """A decoded video frame was obtained at ``now_ms``."""
        return self.on_luma(luma_plane(frame), now_ms)

    def on_luma(self, luma: Luma, now_ms: float) -> VideoObservation:
        """The luma plane (height x width, uint8) of a frame obtained at ``now_ms``."""
        self._frames += 1
        rows, cols = flash_region(luma.shape[1], luma.shape[0])
        patch = luma[rows, cols]
        flash = bool(patch.size and patch.mean() > FLASH_LEVEL)
        stamp = read_stamp(luma)
        if stamp is None:
            self._unreadable += 1
            self._freeze.on_frame(now_ms)  # some new picture, we cannot tell which
            self._note_flash(flash, onset_frame=True, now_ms=now_ms)
            return VideoObservation(None, None, flash, None, False)
        fid = stamp.frame_id
        self._note_flash(
            flash, onset_frame=fid % self.config.flash_period_frames == 0, now_ms=now_ms
        )
        if fid in self._ids:
            self._repeated += 1
            return VideoObservation(fid, None, flash, None, True)
        self._ids.add(fid)
        if self._max_id is not None and fid < self._max_id:
            self._late += 1
        else:
            self._max_id = fid
            self._freeze.on_frame(now_ms)
        latency = (now_ms - stamp.capture_ms) % _WRAP
        latency -= _WRAP if latency >= _WRAP / 2 else 0
        self._latency.append(latency)
        value = None
        size_ok = luma.shape == (self.config.height, self.config.width)
        if size_ok and (len(self._ids) - 1) % self.psnr_every == 0:
            value = psnr(luma, draw_luma(self.config, fid, stamp.capture_ms))
            self._psnr.append(value)
        return VideoObservation(fid, latency, flash, value, False)

    def _note_flash(self, flash: bool, *, onset_frame: bool, now_ms: float) -> None:
        if flash and not self._was_flash and onset_frame:
            self._flash_ms.append(now_ms)
        self._was_flash = flash

    def on_audio_frame(self, frame: av.AudioFrame, now_ms: float) -> list[float]:
        """A decoded audio frame starts playing at ``now_ms``; returns beep onsets in it."""
        return self.on_audio_samples(to_mono(frame), frame.sample_rate, now_ms)

    def on_audio_samples(
        self, samples: npt.NDArray[np.float64], sample_rate: int, now_ms: float
    ) -> list[float]:
        """Mono samples in [-1, 1] whose first plays at ``now_ms``; returns beep onsets."""
        loud = np.flatnonzero(np.abs(samples) >= BEEP_LEVEL)
        if loud.size == 0:
            return []
        times = now_ms + loud * (1000.0 / sample_rate)
        last = -math.inf if self._last_loud_ms is None else self._last_loud_ms
        previous = np.concatenate(([last], times[:-1]))
        onsets = [float(t) for t in times[times - previous > QUIET_MS]]
        self._last_loud_ms = float(times[-1])
        self._beep_ms += onsets
        return onsets

    def av_offsets(self) -> list[float]:
        """Flash onset - nearest beep onset, for flashes with a beep within half a period."""
        if not self._beep_ms:
            return []
        beeps = np.array(self._beep_ms)
        half = self.config.flash_period_ms / 2
        offsets = []
        for flash in self._flash_ms:
            nearest = float(beeps[np.argmin(np.abs(beeps - flash))])
            if abs(flash - nearest) < half:
                offsets.append(flash - nearest)
        return offsets

    def report(self, end_ms: float | None = None) -> ProbeReport:
        """Figures so far; ``end_ms`` lets a trailing stall count (see ``FreezeDetector``)."""
        unique = len(self._ids)
        expected = self._max_id - min(self._ids) + 1 if self._max_id is not None else 0
        dropped = expected - unique
        return ProbeReport(
            video_frames=self._frames,
            unreadable_frames=self._unreadable,
            unique_frames=unique,
            expected_frames=expected,
            dropped_frames=dropped,
            drop_ratio=dropped / expected if expected else 0.0,
            repeated_frames=self._repeated,
            out_of_order_frames=self._late,
            latency_ms=summarize(self._latency),
            psnr_db=summarize(self._psnr),
            freezes=self._freeze.summary(end_ms),
            flashes=len(self._flash_ms),
            beeps=len(self._beep_ms),
            av_offset_ms=summarize(self.av_offsets()),
        )
