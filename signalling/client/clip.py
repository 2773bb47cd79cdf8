"""Pre-encoded bot media: encode a clip once, replay its packets through aiortc.

aiortc's RTCRtpSender only packetizes an ``av.Packet`` returned by ``recv()``
(``Encoder.pack``); the RTP timestamp is ``convert_timebase(pts, time_base, clock)``
with clock 1/90000 (VP8) or 1/48000 (Opus), so ``pts`` and ``time_base`` must be set.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, TypeAlias

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.stream import Stream
from av.video.frame import PictureType

_Packet: TypeAlias = "av.Packet[Stream]"

__all__ = [
    "Clip", "ClipTrack", "RenditionChoice", "encode_clip", "is_vp8_keyframe",
    "read_frame_number",
]

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_TIME_BASE = Fraction(1, 48000)
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms at 48 kHz
AUDIO_PTIME = AUDIO_SAMPLES / AUDIO_RATE
MAX_BURST = 3  # packets a late caller may get without waiting

# Stamp layout: a 10x10 grid of cells; rows 0..2, cols 1..8 hold the stamp.
_GRID = 10
_MARKER = (1, 0, 1, 1, 0, 0, 1, 0)
_BLACK, _GRAY, _WHITE = 16, 128, 235
_MIN_CONTRAST = 48  # a cell mean must be this far from mid-gray to count


@dataclass(frozen=True)
class Clip:
    """An encoded clip: VP8 video packets and 20 ms Opus audio packets."""

    video: tuple[_Packet, ...]
    audio: tuple[_Packet, ...]
    fps: int
    width: int
    height: int
    frame_count: int
    keyframes: tuple[int, ...]

    @property
    def duration(self) -> float:
        """Video duration in seconds."""
        return self.frame_count / self.fps

    @property
    def video_bps(self) -> float:
        """The video's mean bitrate as encoded (payload bits per second)."""
        return 8.0 * sum(p.size for p in self.video) / self.duration


def is_vp8_keyframe(payload: bytes) -> bool:
    """True if ``payload`` (a raw VP8 frame) is a keyframe."""
    return len(payload) >= 10 and payload[0] & 1 == 0 and payload[3:6] == b"\x9d\x01\x2a"


def _stamp_cells(number: int) -> npt.NDArray[np.uint8]:
    """3x8 array of 0/1: the marker row, then 16 bits of ``number`` MSB first."""
    bits = [(number >> (15 - i)) & 1 for i in range(16)]
    return np.array([_MARKER, bits[:8], bits[8:]], dtype=np.uint8)


def _draw_frame(
    index: int, width: int, height: int, texture: npt.NDArray[np.uint16]
) -> av.VideoFrame:
    """Build a yuv420p frame: moving bars + scrolling texture, stamp on top."""
    yy, xx = np.ogrid[0:height, 0:width]
    bars = ((xx + yy // 2 + 6 * index) & 255).astype(np.uint16)
    off = (4 * index) % width
    luma = ((bars + texture[:, off : off + width]) >> 1).astype(np.uint8)
    cw, ch = width // _GRID, height // _GRID
    luma[: 3 * ch] = _GRAY
    cells = _stamp_cells(index) * (_WHITE - _BLACK) + _BLACK
    luma[: 3 * ch, cw : 9 * cw] = np.kron(cells, np.ones((ch, cw), dtype=np.uint8))
    cy, cx = np.ogrid[0 : height // 2, 0 : width // 2]
    u = np.tile(112 + ((cx + 2 * index) & 31), (height // 2, 1)).astype(np.uint8)
    v = np.tile(112 + ((cy + index) & 31), (1, width // 2)).astype(np.uint8)
    u[: 3 * ch // 2] = v[: 3 * ch // 2] = _GRAY
    chroma = np.concatenate([u.ravel(), v.ravel()]).reshape(height // 2, width)
    planes = np.concatenate([luma, chroma], axis=0)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def _encode_video(frames: int, fps: int, width: int, height: int, bitrate: int, hold: int
                  ) -> list[_Packet]:
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps)
    ctx.bit_rate = bitrate
    ctx.gop_size = 1 << 30
    ctx.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "kf-max-dist": str(1 << 30),
        "max-intra-rate": "300",  # keep the single keyframe small
    }
    texture = np.random.default_rng(0).integers(16, 236, (height, 2 * width), dtype=np.uint16)
    packets: list[_Packet] = []
    for i in range(frames):
        frame = _draw_frame(i // hold * hold, width, height, texture)
        frame.pts, frame.time_base = i, ctx.time_base
        frame.pict_type = PictureType.I if i == 0 else PictureType.NONE
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    return packets


def _encode_audio(seconds: float) -> list[_Packet]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = AUDIO_RATE, "mono", "s16"
    ctx.bit_rate = 32000
    ctx.options = {"vbr": "constrained"}  # unconstrained VBR drifts to ~44 kbps on a tone
    ctx.time_base = AUDIO_TIME_BASE
    packets: list[_Packet] = []
    for i in range(math.ceil(seconds / AUDIO_PTIME)):
        t = (np.arange(AUDIO_SAMPLES) + i * AUDIO_SAMPLES) / AUDIO_RATE
        tone = (np.sin(2 * np.pi * 440.0 * t) * 0.25 * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, i * AUDIO_SAMPLES, ctx.time_base
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    return packets


@functools.lru_cache(maxsize=8)
def encode_clip(
    seconds: float = 4.0,
    fps: int = 30,
    width: int = 640,
    height: int = 480,
    video_bitrate: int = 1_000_000,
    hold: int = 1,
) -> Clip:
    """Encode (once per parameter set) a stamped VP8 + Opus clip.

    Each picture is held for `hold` frames: a lower picture rate at the same frame pacing,
    as an encoder that drops frames to reach a low bitrate (the stamp is the picture's)."""
    if width < 160 or height < 120 or width % 2 or height % 2:
        raise ValueError("width/height must be even and at least 160x120")
    frames = round(seconds * fps)
    if not 1 <= frames <= 1 << 16 or fps <= 0:
        raise ValueError("need 1..65536 frames and fps > 0")
    if hold < 1:
        raise ValueError("hold must be at least 1")
    video = _encode_video(frames, fps, width, height, video_bitrate, hold)
    if len(video) != frames:
        raise RuntimeError(f"libvpx returned {len(video)} packets for {frames} frames")
    keyframes = tuple(i for i, p in enumerate(video) if is_vp8_keyframe(bytes(p)))
    if not keyframes or keyframes[0] != 0:
        raise RuntimeError("first VP8 frame is not a keyframe")
    audio = _encode_audio(frames / fps)
    return Clip(tuple(video), tuple(audio), fps, width, height, frames, keyframes)


def read_frame_number(frame: av.VideoFrame) -> int | None:
    """Decode the stamped frame index, or None if the marker is absent."""
    if frame.format.name not in ("yuv420p", "yuvj420p", "nv12"):
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    width, height = frame.width, frame.height
    luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    cw, ch = width // _GRID, height // _GRID
    if cw < 4 or ch < 4:
        return None
    band = luma[: 3 * ch, cw : 9 * cw].reshape(3, ch, 8, cw)
    inner = band[:, ch // 4 : ch - ch // 4, :, cw // 4 : cw - cw // 4]
    means = inner.mean(axis=(1, 3))
    if np.any(np.abs(means - _GRAY) < _MIN_CONTRAST):
        return None
    bits = (means > _GRAY).astype(int)
    if tuple(bits[0]) != _MARKER:
        return None
    return int("".join(str(b) for b in bits[1:].ravel()), 2)


UP_HOLD_S = 3.0
"""A higher rendition is taken once the target has allowed it (with headroom) this long."""
UP_HEADROOM = 1.2


class RenditionChoice:
    """Which of a ladder of renditions to send for a bitrate target (pure: time passed in).

    Like an adaptive encoder: down at once when the target falls below the current
    rendition's rate; up one step once the target has been at least 1.2 times the next
    rendition's rate for 3 s. Rates are in bits per second, highest first.
    """

    def __init__(self, rates: Sequence[float]) -> None:
        if not rates or list(rates) != sorted(rates, reverse=True):
            raise ValueError("rates must be given highest first")
        self.rates = list(rates)
        self.current = 0
        self._up_since: float | None = None

    def update(self, target_bps: float, now: float) -> int:
        """The rendition to send now, given the latest target."""
        fits = next((i for i, rate in enumerate(self.rates) if rate <= target_bps),
                    len(self.rates) - 1)
        if fits > self.current:
            self.current, self._up_since = fits, None
        elif self.current > 0 and target_bps >= UP_HEADROOM * self.rates[self.current - 1]:
            if self._up_since is None:
                self._up_since = now
            elif now - self._up_since >= UP_HOLD_S:
                self.current, self._up_since = self.current - 1, None
        else:
            self._up_since = None
        return self.current


class ClipTrack(MediaStreamTrack):
    """Replays a clip's packets in real time, re-stamped, looping forever.

    Given several renditions of one clip (a video ladder), it follows a bitrate target
    (`set_target_bitrate`, fed from the REMB the sender receives) as a browser's encoder
    would, switching on the new rendition's keyframe.
    """

    def __init__(self, clip: Clip | Sequence[Clip], kind: Literal["audio", "video"]) -> None:
        super().__init__()
        if kind not in ("audio", "video"):
            raise ValueError(f"bad kind {kind!r}")
        ladder = [clip] if isinstance(clip, Clip) else list(clip)
        if not ladder:
            raise ValueError("no clip given")
        ladder.sort(key=lambda c: c.video_bps, reverse=True)
        self._ladder = ladder
        self._choice = RenditionChoice([c.video_bps for c in ladder])
        self._target: float | None = None
        self.switches = 0
        clip = ladder[0]
        self.kind = kind
        video = kind == "video"
        self._packets = clip.video if video else clip.audio
        if not self._packets:
            raise ValueError(f"clip has no {kind} packets")
        self._keyframes = clip.keyframes if video else ()
        self._period = 1 / clip.fps if video else AUDIO_PTIME
        self._ticks = Fraction(90000, clip.fps) if video else Fraction(AUDIO_SAMPLES)
        self._time_base = VIDEO_TIME_BASE if video else AUDIO_TIME_BASE
        self._index = 0
        self._slot = -1
        self._start: float | None = None
        self._want_keyframe = False
        self.frames_sent = 0
        self.keyframes_sent = 0

    def request_keyframe(self) -> None:
        """Make the next video packet a keyframe (no-op for audio)."""
        if self.kind == "video":
            self._want_keyframe = True

    def set_target_bitrate(self, bps: float) -> None:
        """The bitrate the receiver side allows (REMB); used with a ladder of renditions."""
        self._target = bps

    @property
    def rendition(self) -> int:
        """Index of the rendition being sent, 0 = highest bitrate."""
        return self._choice.current

    def _follow_target(self, now: float) -> None:
        if self.kind != "video" or len(self._ladder) < 2 or self._target is None:
            return
        before = self._choice.current
        chosen = self._choice.update(self._target, now)
        if chosen != before:
            clip = self._ladder[chosen]
            self._packets, self._keyframes = clip.video, clip.keyframes
            self._index, self._want_keyframe = 0, False  # frame 0 is a keyframe
            self.switches += 1

    async def recv(self) -> _Packet:
        """Return the next packet, paced from the first call; late callers skip slots."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start, slot = now, 0
        else:
            slot = self._slot + 1
            slot = max(slot, int((now - self._start) / self._period) - MAX_BURST)
            delay = self._start + slot * self._period - now
            if delay > 0:
                await asyncio.sleep(delay)
            if self.readyState != "live":
                raise MediaStreamError
        self._slot = slot
        self._follow_target(time.monotonic())
        return self._emit(slot)

    def _emit(self, slot: int) -> _Packet:
        if self._want_keyframe:
            self._want_keyframe = False
            pos = bisect.bisect_right(self._keyframes, self._index) - 1
            self._index = self._keyframes[pos] if pos >= 0 else 0
        src = self._packets[self._index]
        key = self.kind == "audio" or self._index in self._keyframes
        packet = av.Packet(bytes(src))
        packet.pts = packet.dts = int(slot * self._ticks)
        packet.time_base = self._time_base
        packet.is_keyframe = key
        self._index = (self._index + 1) % len(self._packets)
        self.frames_sent += 1
        if key and self.kind == "video":
            self.keyframes_sent += 1
        return packet
