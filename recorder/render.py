"""The review composite: one WebM (VP8/Opus) or MP4 (H.264/AAC) of a recorded session for
sharing outside the platform, with every participant's video in a grid (tutor first, then
learners by join order) and everyone's audio mixed, on the session clock.

It runs in the `liveroom render` process, never on a node's event loop. Each track's
sealed segments (from the session's folder, or from object storage once uploaded:
`recorder.render_store`) are decrypted one at a time (`sealing.open_sealed`, checked for
order and the last flag as `sealing.open_track` does) and decoded as needed, so memory
holds one segment and a frame or two per track, whatever the session's length. The
output loop is bounded in frames (duration x fps) and in time (`timeout_s`); a partial
file is removed. The decisions (grid, which frame at which instant, audio alignment and
mixing) are `recorder.render_grid`'s.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import structlog

from . import sealing
from .errors import RecorderCode, RecorderError
from .recorder import Recorder
from .render_grid import (
    AudioLane,
    Canvas,
    Cell,
    Samples,
    TileFeed,
    fit,
    grid,
    mix,
    output_frames,
    seats_of,
    tile_order,
)
from .render_store import LocalSegments, SegmentSource, StoreBridge, StoredSegments
from .session import SessionFiles
from .summary import summarize

log = structlog.get_logger(__name__)

RATE = 48000
RENDERABLE = ("finalized", "recovered")
# container format: (video encoder, its options, audio encoder, audio sample format, frame)
FORMATS: dict[str, tuple[str, dict[str, str], str, str, int]] = {
    "webm": ("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
             "libopus", "flt", 960),
    "mp4": ("libx264", {"preset": "veryfast", "crf": "26"}, "aac", "fltp", 1024),
}


def available_formats() -> list[str]:
    """The output formats whose encoders this PyAV build has."""
    return [name for name, (video, _, audio, _, _) in FORMATS.items()
            if video in av.codecs_available and audio in av.codecs_available]


def default_timeout(duration_s: float) -> float:
    """The time a render may take by default: a minute plus twice the session's length
    (a 12 s session rendered in 2 s here, 15 s on a loaded machine: docs/review.md)."""
    return 60.0 + 2.0 * duration_s


@dataclass(frozen=True, slots=True)
class RenderOptions:
    out: Path
    format: str = "webm"  # a key of FORMATS
    width: int = 640  # multiples of 4
    height: int = 480
    fps: int = 15
    video_bit_rate: int = 1_000_000
    timeout_s: float | None = None  # None: default_timeout(duration)
    by: str = "cli"  # who renders, for the audit log


@dataclass(frozen=True, slots=True)
class Rendered:
    session: str
    path: Path
    format: str
    duration_s: float  # the session's (summary)
    frames: int  # video frames written
    tiles: list[str]  # pseudonyms, in grid order
    audio_tracks: int
    frames_shown: dict[str, int]  # per tile: how many different source frames it showed
    seconds: float  # the render's own wall time


# --- reading a track --------------------------------------------------------------------


def plaintexts(files: SessionFiles, track: str, source: SegmentSource) -> Iterator[bytes]:
    """A track's segments decrypted one at a time; RecorderError(SEGMENT_REFUSED) if one is
    altered, out of place or the last one is missing."""
    names = source.names(track)
    if not names:
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, f"track {track} has no segments")
    for sequence, name in enumerate(names):
        header, plain = sealing.open_sealed(files.data_key, source.read(name),
                                            session=files.session, track=track,
                                            sequence=sequence)
        if header.last != (sequence == len(names) - 1):
            raise RecorderError(RecorderCode.SEGMENT_REFUSED,
                                f"track {track} is truncated or has a stray last segment")
        yield plain


def decoded(parts: Iterator[bytes]) -> Generator[tuple[float, Any], None, None]:
    """Every frame of a track's segments with its session time (s), in order: packets whose
    pts does not rise are skipped (as the finalize remux does); a torn tail ends its
    segment."""
    last: float | None = None
    for part in parts:
        if not part:
            continue
        with av.open(io.BytesIO(part), "r") as container:
            stream = container.streams[0]
            try:
                for packet in container.demux(stream):
                    if not packet.size or packet.pts is None:
                        continue
                    t = float(packet.pts * packet.time_base)
                    if last is not None and t <= last:
                        continue
                    last = t
                    for frame in packet.decode():
                        yield t, frame
            except av.error.FFmpegError:
                log.warning("render_segment_torn", stream=stream.type)


def video_planes(frame: Any, cell: Cell) -> tuple[Any, Any, Any]:
    """A decoded frame scaled to `cell`, as its Y, U and V planes (numpy views)."""
    scaled = frame.reformat(width=cell.width, height=cell.height, format="yuv420p")
    out = []
    for plane in scaled.planes:
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, :plane.width])
    return out[0], out[1], out[2]


def mono(frame: Any) -> Samples:
    """A decoded audio frame as mono float samples (Opus always decodes at 48 kHz)."""
    if frame.sample_rate != RATE:
        raise RecorderError(RecorderCode.CORRUPT, f"audio at {frame.sample_rate} Hz: not "
                            "a recorded Opus track")
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if data.dtype.kind in "iu":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    return np.asarray(data.mean(axis=0), dtype=np.float32)


def audio_chunks(frames: Iterator[tuple[float, Any]]
                 ) -> Generator[tuple[int, Samples], None, None]:
    """A track's decoded audio as (first sample index on the output, mono samples)."""
    for t, frame in frames:
        yield round(t * RATE), mono(frame)


# --- the composite ----------------------------------------------------------------------


def render_session(recorder: Recorder, session: str, options: RenderOptions, *,
                   store: StoreBridge | None = None,
                   clock: Callable[[], float] = time.monotonic) -> Rendered:
    """Render `session` to `options.out` (written at a temporary name, renamed when
    complete, mode 0600: it holds children's faces and voices, decrypted). The segments
    are read from the session's folder, or from `store` once the session was uploaded."""
    if options.format not in available_formats():
        raise RecorderError(RecorderCode.FORMAT_UNAVAILABLE, f"no encoder for "
                            f"{options.format} here (this PyAV renders: "
                            f"{', '.join(available_formats()) or 'nothing'})")
    started = clock()
    files = recorder.open(session)
    try:
        info = files.info()
        if info.get("status") not in RENDERABLE:
            raise RecorderError(RecorderCode.NOT_FINALIZED,
                                f"recording {session} is {info.get('status')}, not finalized")
        source: SegmentSource = LocalSegments(files)
        if info.get("uploaded"):
            if store is None:
                raise RecorderError(RecorderCode.NOT_FOUND, f"recording {session} was moved "
                                    "to object storage, which is not configured here")
            source = StoredSegments(store, session)
        timeline = files.timeline_lines()
        tracks = files.tracks()
        duration = summarize(session, info, timeline, tracks).duration_s
        order = tile_order(seats_of(timeline))
        tiles = [who for who in order if f"{who}-video" in tracks]
        tiles += [t.removesuffix("-video") for t in tracks
                  if t.endswith("-video") and t.removesuffix("-video") not in tiles]
        voices = [f"{who}-audio" for who in order if f"{who}-audio" in tracks]
        voices += [t for t in tracks if t.endswith("-audio") and t not in voices]
        timeout = options.timeout_s if options.timeout_s is not None else default_timeout(
            duration)
        recorder.accessed(session, "render", options.by)
        log.info("render_started", session=session, tiles=len(tiles), audio=len(voices),
                 duration_s=duration, format=options.format)
        partial = options.out.with_name(f".{options.out.name}.partial")
        partial.unlink(missing_ok=True)  # a crashed render's: made again, owner only
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            frames, shown = _compose(files, source, tiles, voices, duration, partial,
                                     options, deadline=started + timeout, clock=clock)
            os.replace(partial, options.out)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        files.close()
    seconds = round(clock() - started, 3)
    log.info("render_finished", session=session, frames=frames, seconds=seconds)
    return Rendered(session, options.out, options.format, duration, frames, tiles,
                    len(voices), shown, seconds)


def _compose(files: SessionFiles, segments: SegmentSource, tiles: list[str],
             voices: list[str], duration: float, path: Path, options: RenderOptions, *,
             deadline: float, clock: Callable[[], float]) -> tuple[int, dict[str, int]]:
    video_codec, video_options, audio_codec, sample_format, frame_size = FORMATS[
        options.format]
    cells = grid(len(tiles), options.width, options.height)
    canvas = Canvas.black(options.width, options.height)
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(contextlib.closing(
            decoded(plaintexts(files, f"{who}-video", segments)))) for who in tiles]
        feeds = [TileFeed(frames) for frames in sources]
        voice_sources = [stack.enter_context(contextlib.closing(
            audio_chunks(decoded(plaintexts(files, track, segments))))) for track in voices]
        lanes = [AudioLane() for _ in voices]
        output: Any = stack.enter_context(av.open(
            str(path), "w", format=options.format,
            options={"movflags": "+faststart"} if options.format == "mp4" else {}))
        video = output.add_stream(video_codec, rate=options.fps, options=video_options)
        video.width, video.height, video.pix_fmt = options.width, options.height, "yuv420p"
        video.bit_rate = options.video_bit_rate
        audio = output.add_stream(audio_codec, rate=RATE)
        audio.layout = "mono"
        audio.bit_rate = 64000
        count = output_frames(duration, options.fps)
        total_samples = round(duration * RATE)
        written = 0  # audio samples encoded
        pasted: list[Any] = [None] * len(tiles)
        for i in range(count):
            if clock() > deadline:
                raise RecorderError(RecorderCode.TIMED_OUT, f"render stopped at "
                                    f"{i / options.fps:.1f} s of {duration:.1f} s (--timeout)")
            t = i / options.fps
            for n, (feed, cell) in enumerate(zip(feeds, cells, strict=True)):
                frame = feed.at(t)
                if frame is None:
                    canvas.blank(cell)
                elif frame is not pasted[n]:
                    inner = fit(frame.width, frame.height, cell)
                    if inner != cell:
                        canvas.blank(cell)  # the letterbox
                    canvas.paste(inner, *video_planes(frame, inner))
                pasted[n] = frame
            picture = av.VideoFrame.from_ndarray(canvas.packed(), format="yuv420p")
            picture.pts = i
            picture.time_base = Fraction(1, options.fps)
            output.mux(video.encode(picture))
            until = total_samples if i == count - 1 else round((i + 1) * RATE / options.fps)
            while written < until:
                for lane, source in zip(lanes, voice_sources, strict=True):
                    while lane.end < written + frame_size:
                        chunk = next(source, None)
                        if chunk is None:
                            break
                        lane.add(*chunk)
                samples = mix([lane.take(frame_size) for lane in lanes], frame_size)
                block = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format=sample_format,
                                                   layout="mono")
                block.sample_rate = RATE
                block.pts = written
                block.time_base = Fraction(1, RATE)
                output.mux(audio.encode(block))
                written += frame_size
        output.mux(video.encode(None))
        output.mux(audio.encode(None))
    return count, {who: feed.changes for who, feed in zip(tiles, feeds, strict=True)}
