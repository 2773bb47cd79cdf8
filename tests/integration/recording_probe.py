"""Reading a node's recordings back in tests: decrypt with the node's KEK, decode the
finalized files, and measure them with the probe (beep and flash on the file timeline)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from qos.probe import ProbeAnalyzer
from recorder.recorder import Recorder
from recorder.sealing import LocalKek


def recorder_of(data_dir: Path) -> Recorder:
    return Recorder(data_dir / "recordings", LocalKek.in_data_dir(data_dir / "recording-kek"))


@dataclass
class TrackFigures:
    frames: int
    first_s: float
    last_s: float
    pts: list[float]
    decoded: list[tuple[float, Any]]

    @property
    def duration_s(self) -> float:
        return self.last_s - self.first_s


def decode(data: bytes) -> TrackFigures:
    """Every frame of a one-track WebM with its time (s, session time)."""
    decoded: list[tuple[float, Any]] = []
    pts: list[float] = []
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams[0]
        for packet in container.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            pts.append(float(packet.pts * packet.time_base))
            for frame in packet.decode():
                assert isinstance(frame, av.VideoFrame | av.AudioFrame)
                assert frame.pts is not None and frame.time_base is not None
                decoded.append((float(frame.pts * frame.time_base), frame))
    assert decoded, "no frame decodes"
    return TrackFigures(len(decoded), pts[0], pts[-1], pts, decoded)


def av_flashes(audio: TrackFigures, video: TrackFigures) -> list[tuple[float, float]]:
    """(flash onset in s, flash - nearest beep onset in ms) for each flash with a beep within
    half a period, on the files' timelines (as `ProbeAnalyzer.av_offsets`, with times)."""
    analyzer = ProbeAnalyzer()
    period = analyzer.config.flash_period_frames
    flashes: list[float] = []
    lit = False
    for t, frame in video.decoded:
        seen = analyzer.on_video_frame(frame, t * 1000.0)
        onset_frame = seen.frame_id is None or seen.frame_id % period == 0
        if seen.flash and not lit and onset_frame:
            flashes.append(t)
        lit = seen.flash
    beeps: list[float] = []
    for t, frame in audio.decoded:
        beeps += [x / 1000.0 for x in analyzer.on_audio_frame(frame, t * 1000.0)]
    half = analyzer.config.flash_period_ms / 2000.0
    out = []
    for flash in flashes:
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(flash - nearest) < half:
            out.append((flash, (flash - nearest) * 1000.0))
    return out


def held_to(flashes: list[tuple[float, float]], audio: TrackFigures, limit_ms: float,
            ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(off: flashes more than `limit_ms` off, excused: those of them whose beep onset the
    sender never sent). The sender's audio started again in the middle of the beep (its
    first packet after a gap, or after skipped frames, came after the flash and within the
    beep's 100 ms), so the recording cannot show the onset: the probe publisher does this
    after a reconnect, resuming each track `MAX_BURST` frames behind, which is 60 ms of
    audio but 100 ms of video."""
    starts = [audio.pts[0]] + [b for a, b in zip(audio.pts, audio.pts[1:], strict=False)
                               if b - a > 0.03]
    off = [f for f in flashes if abs(f[1]) > limit_ms]
    excused = [f for f in off if any(f[0] < start < f[0] + 0.1 for start in starts)]
    return off, excused


def segment_pts(recorder: Recorder, session: str, track: str) -> list[float]:
    """The pts (s) of every packet of every sealed segment of a track, in order."""
    files = recorder.open(session)
    try:
        out: list[float] = []
        for part in files.segments(track):
            if part:
                with av.open(io.BytesIO(part), "r") as c:
                    out += [float(p.pts * p.time_base) for p in c.demux(c.streams[0])
                            if p.size and p.pts is not None]
        return out
    finally:
        files.close()


def plaintext_media(folder: Path) -> list[Path]:
    """Files under `folder` that are readable WebM (EBML magic) or still-open segments."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                if f.read(4) == b"\x1a\x45\xdf\xa3" or path.name.endswith(".open"):
                    found.append(path)
    return found


def files_named(folder: Path, pattern: str) -> list[Path]:
    return list(folder.rglob(pattern))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
