"""WebM through PyAV, never transcoding: segment files, remux, concatenation, decode checks.

Measured facts this follows (../shared/design/recording.md): `flush_packets=1` and
`cluster_time_limit=500` bound what a kill loses to ~0.1 s of the open segment; `live=1` is
not used (it strips Cues); every packet has a constant time base equal to its RTP clock;
streams are created for their codec (never encoding) so the headers are filled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from media.ids import CLOCK_RATE, Kind

from .errors import RecorderCode, RecorderError

OPTIONS = {"flush_packets": "1", "cluster_time_limit": "500"}


def _add_stream(container: Any, kind: Kind, width: int, height: int) -> Any:
    if kind is Kind.VIDEO:
        stream = container.add_stream("libvpx", rate=30)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
    else:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "stereo"
    return stream


class SegmentFile:
    """One open segment of one track, written as WebM while it is open."""

    def __init__(self, path: Path, kind: Kind, width: int = 0, height: int = 0) -> None:
        self.path = path
        self.kind = kind
        self.time_base = Fraction(1, CLOCK_RATE[kind])
        self._container: Any = av.open(str(path), "w", format="webm", options=OPTIONS)
        self._stream = _add_stream(self._container, kind, width, height)
        self.sequence = 0
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.packets = 0
        self.bytes = 0

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = self.time_base
        packet.stream = self._stream
        packet.is_keyframe = keyframe
        self._container.mux(packet)
        if self.first_pts is None:
            self.first_pts = pts
        self.last_pts = pts
        self.packets += 1
        self.bytes += len(data)

    def close(self) -> None:
        self._container.close()


@dataclass(frozen=True, slots=True)
class Checked:
    """What decoding a WebM found."""

    frames: int
    first_pts: int | None  # in the track's RTP clock
    last_pts: int | None
    duration_s: float | None  # from the container header (None without Cues/duration)


def _packets(data: bytes) -> tuple[Any, Any, list[Any]]:
    """Demux every packet that can be read (a killed writer leaves a truncated tail)."""
    container: Any = av.open(io.BytesIO(data), "r")
    stream = container.streams[0]
    packets = []
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets.append(packet)
    except av.error.FFmpegError:
        pass  # the torn tail of a killed writer
    return container, stream, packets


def remux(parts: list[bytes]) -> bytes:
    """One WebM from the packets of `parts` (same track, in order), without re-encoding: it
    restores Cues and duration and keeps the session-time pts. Empty parts are skipped."""
    out = io.BytesIO()
    output: Any = None
    target: Any = None
    last = None
    try:
        for part in parts:
            if not part:
                continue
            container, stream, packets = _packets(part)
            try:
                if output is None:
                    output = av.open(out, "w", format="webm")
                    target = output.add_stream_from_template(stream)
                for packet in packets:
                    pts = packet.pts
                    if pts is None or (last is not None and pts <= last):
                        continue
                    last = pts
                    packet.stream = target
                    output.mux(packet)
            finally:
                container.close()
    finally:
        if output is not None:
            output.close()
    if output is None:
        raise RecorderError(RecorderCode.CORRUPT, "nothing to remux")
    return out.getvalue()


def check(data: bytes, kind: Kind) -> Checked:
    """Decode every frame of a one-track WebM; RecorderError(CORRUPT) if none decodes."""
    rate = CLOCK_RATE[kind]
    try:
        container: Any = av.open(io.BytesIO(data), "r")
    except av.error.FFmpegError as exc:
        raise RecorderError(RecorderCode.CORRUPT, f"not WebM: {exc}") from exc
    frames, first, last = 0, None, None
    try:
        stream = container.streams[0]
        duration = float(container.duration) / 1e6 if container.duration else None
        for packet in container.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            pts = round(float(packet.pts * packet.time_base) * rate)
            first = pts if first is None else first
            last = pts
            frames += len(packet.decode())
    except av.error.FFmpegError as exc:
        if not frames:
            raise RecorderError(RecorderCode.CORRUPT, f"undecodable: {exc}") from exc
    finally:
        container.close()
    if not frames:
        raise RecorderError(RecorderCode.CORRUPT, "no frame decodes")
    return Checked(frames, first, last, duration)
