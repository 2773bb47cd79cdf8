"""The probe's deterministic synthetic media: stamped, flashing video and beeping audio.

Video frame ``i`` is a function of ``i`` and its capture time only: a smooth moving pattern
and a moving dark box (so the encoder has work to do), a large white patch during the
first ``flash_ms`` of every ``flash_period_ms``, and the stamp (:mod:`qos.stamp`). A
receiver that reads the stamp can therefore rebuild the exact reference picture for PSNR.

Audio sample ``n`` (48 kHz mono) is a 1 kHz tone during the first ``beep_ms`` of every
``flash_period_ms``, silence otherwise. Video frame ``i`` and audio sample ``n`` share a
media clock (``i / fps`` and ``n / sample_rate`` seconds), so every beep starts with a flash.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt

from qos.stamp import GRID_COLS, GRID_ROWS, STAMP_ROWS, WHITE, Luma, Stamp, write_stamp

__all__ = [
    "ProbeConfig",
    "audio_frame",
    "audio_samples",
    "draw_luma",
    "flash_region",
    "video_frame",
]

_DARK = 40
_TEXTURE = 16  # amplitude of the scrolling detail


@dataclass(frozen=True)
class ProbeConfig:
    """Probe media parameters; the sender and the receiver must use the same."""

    width: int = 640
    height: int = 480
    fps: int = 30
    flash_period_ms: int = 1000
    """A flash (and a beep) starts every this many ms of media time."""
    flash_ms: int = 100
    """Flash length; must be a whole number of frames."""
    beep_ms: int = 100
    beep_hz: float = 1000.0
    beep_level: float = 0.5
    """Beep amplitude, fraction of full scale."""
    sample_rate: int = 48_000
    audio_frame_samples: int = 960
    """Samples per audio frame (20 ms at 48 kHz)."""

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even")
        if self.width // GRID_COLS < 8 or self.height // GRID_ROWS < 8:
            raise ValueError("picture too small: need at least 8x8-pixel stamp cells")
        for name, ms in (("flash_period_ms", self.flash_period_ms), ("flash_ms", self.flash_ms)):
            if (ms * self.fps) % 1000:
                raise ValueError(f"{name} must be a whole number of frames")
        if not 0 < self.flash_ms < self.flash_period_ms or not 0 < self.beep_ms < 500:
            raise ValueError("need 0 < flash_ms < flash_period_ms and 0 < beep_ms < 500")
        if not 0 < self.beep_level <= 1:
            raise ValueError("beep_level must be in (0, 1]")

    @property
    def frame_interval_ms(self) -> float:
        """Media time between frames."""
        return 1000.0 / self.fps

    @property
    def flash_period_frames(self) -> int:
        """Frames from one flash onset to the next."""
        return self.flash_period_ms * self.fps // 1000

    @property
    def flash_frames(self) -> int:
        """Frames a flash lasts."""
        return self.flash_ms * self.fps // 1000

    def is_flash(self, frame_id: int) -> bool:
        """Does frame ``frame_id`` show the flash?"""
        return frame_id % self.flash_period_frames < self.flash_frames


def flash_region(width: int, height: int) -> tuple[slice, slice]:
    """Rows and columns of the flash patch in a ``width`` x ``height`` picture: 8 x 8 grid
    cells in the lower middle, clear of the stamp."""
    ch, cw = height // GRID_ROWS, width // GRID_COLS
    return slice(6 * ch, 14 * ch), slice(6 * cw, 14 * cw)


@functools.lru_cache(maxsize=4)
def _texture(width: int, height: int) -> npt.NDArray[np.int16]:
    """Fixed-seed detail, twice as wide as the picture, smoothed over 2x2 pixels."""
    noise = np.random.default_rng(7).integers(-_TEXTURE, _TEXTURE + 1, (height + 1, 2 * width + 1))
    smooth = (noise[:-1, :-1] + noise[1:, :-1] + noise[:-1, 1:] + noise[1:, 1:]) // 4
    return smooth.astype(np.int16)


def _pattern(config: ProbeConfig, frame_id: int) -> npt.NDArray[np.int16]:
    w, h, i = config.width, config.height, frame_id
    xs = np.sin(2 * np.pi * (np.arange(w) + 4 * i) / (w / 6))
    ys = np.cos(2 * np.pi * (np.arange(h) + 2 * i) / (h / 4))
    off = (2 * i) % w
    waves = (128.0 + 48.0 * np.outer(ys, xs)).astype(np.int16)
    return waves + _texture(w, h)[:, off : off + w]


def draw_luma(config: ProbeConfig, frame_id: int, capture_ms: int) -> Luma:
    """The luma plane (height x width, uint8) of probe frame ``frame_id``."""
    luma = np.clip(_pattern(config, frame_id), 0, 255).astype(np.uint8)
    ch = config.height // GRID_ROWS
    box = config.height // 6
    top = STAMP_ROWS * ch + ch // 2
    left = (8 * frame_id) % (config.width - box)
    luma[top : top + box, left : left + box] = _DARK
    if config.is_flash(frame_id):
        rows, cols = flash_region(config.width, config.height)
        luma[rows, cols] = WHITE
    write_stamp(luma, Stamp(frame_id, capture_ms))
    return luma


def video_frame(config: ProbeConfig, frame_id: int, capture_ms: int) -> av.VideoFrame:
    """Probe frame ``frame_id`` as a yuv420p ``VideoFrame`` (flat gray chroma), no pts."""
    luma = draw_luma(config, frame_id, capture_ms)
    chroma = np.full((config.height // 2, config.width), 128, dtype=np.uint8)
    return av.VideoFrame.from_ndarray(np.concatenate([luma, chroma]), format="yuv420p")


def audio_samples(config: ProbeConfig, index: int) -> npt.NDArray[np.int16]:
    """Samples of probe audio frame ``index`` (mono, s16)."""
    n = np.arange(config.audio_frame_samples, dtype=np.int64) + index * config.audio_frame_samples
    period = config.flash_period_ms * config.sample_rate // 1000
    beep = config.beep_ms * config.sample_rate // 1000
    phase = n % period
    tone = np.sin(2 * np.pi * config.beep_hz * phase / config.sample_rate) * config.beep_level
    return np.where(phase < beep, tone * 32767, 0).astype(np.int16)


def audio_frame(config: ProbeConfig, index: int) -> av.AudioFrame:
    """Probe audio frame ``index`` as a mono s16 ``AudioFrame``, pts in samples."""
    samples = audio_samples(config, index).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = config.sample_rate
    frame.pts = index * config.audio_frame_samples
    frame.time_base = Fraction(1, config.sample_rate)
    return frame
