"""`liveroom render` on a real recorded lesson: aiortc peers publishing probe media through
a real node, the learner joining 3 s after the tutor; the render runs as its own process
through the CLI entry point; the output is then decoded and measured.

The output decodes fully and lasts the session; the tutor's tile (left) and the learner's
(right) carry their probe's frame stamps, rising over time, the two tiles' capture times
agreeing at each instant; the learner's tile is black until the learner's video begins on
the session clock; the mix holds each probe's beep (1 kHz tutor, 600 Hz learner) with
that participant's flashes and silence between them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from media.ids import Role
from qos.probe_source import ProbeConfig, flash_region
from qos.probe_tracks import probe_tracks
from qos.stamp import Stamp, read_stamp
from recorder.summaries import load_summary
from signalling import protocol as p
from signalling.client import Client
from tests.conftest import Clients, RunningNode
from tests.integration.recording_probe import decode, recorder_of
from tests.integration.test_recording import CONSENT, RECORDING, stop_recording

TUTOR_HZ, LEARNER_HZ = 1000.0, 600.0
LATE_S = 3.0  # the learner joins this long after the tutor
LESSON_S = 12.0
FPS = 15
# the grid for two 4:3 tiles in 640x480, written out here (not taken from the code tested)
TILES = {"tutor": (slice(120, 360), slice(0, 320)), "learner": (slice(120, 360), slice(320, 640))}
WINDOW = 480  # 10 ms at 48 kHz: 10 periods of 1 kHz, 6 of 600 Hz (the tones are orthogonal)


@dataclass
class Tile:
    stamps: list[tuple[float, Stamp]] = field(default_factory=list)
    black: list[float] = field(default_factory=list)  # output times the tile was black
    flashes: list[float] = field(default_factory=list)  # output times the tile flashed


@dataclass
class Composite:
    duration_s: float
    frames: list[float]  # each video frame's time
    tiles: dict[str, Tile]
    audio: npt.NDArray[np.float32]  # mono, from the first audio frame
    audio_start_s: float


def read_composite(path: Path) -> Composite:
    """Decode every packet of the render (raising on any error)."""
    tiles = {who: Tile() for who in TILES}
    rows, cols = flash_region(320, 240)
    frames: list[float] = []
    chunks: list[npt.NDArray[np.float32]] = []
    audio_start: float | None = None
    with av.open(str(path), "r") as container:
        assert container.duration is not None
        duration = container.duration / 1e6
        for frame in container.decode(video=0, audio=0):
            assert isinstance(frame, av.VideoFrame | av.AudioFrame)
            assert frame.pts is not None and frame.time_base is not None
            t = float(frame.pts * frame.time_base)
            if isinstance(frame, av.AudioFrame):
                audio_start = t if audio_start is None else audio_start
                chunks.append(frame.to_ndarray().astype(np.float32).mean(axis=0))
                continue
            assert (frame.width, frame.height) == (640, 480)
            frames.append(t)
            luma = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
            for who, (ys, xs) in TILES.items():
                tile = luma[ys, xs]
                stamp = read_stamp(tile)
                if stamp is not None:
                    tiles[who].stamps.append((t, stamp))
                if tile.mean() < 20 and tile.std() < 3:
                    tiles[who].black.append(t)
                if tile[rows, cols].mean() > 200:
                    tiles[who].flashes.append(t)
    assert audio_start is not None
    return Composite(duration, frames, tiles, np.concatenate(chunks), audio_start)


def tone_levels(audio: npt.NDArray[np.float32], hz: float) -> npt.NDArray[np.float64]:
    """The amplitude of `hz` in each 10 ms window."""
    count = len(audio) // WINDOW
    windows = audio[:count * WINDOW].reshape(count, WINDOW).astype(np.float64)
    phase = np.exp(-2j * np.pi * hz * np.arange(WINDOW) / 48000)
    return np.asarray(2 * np.abs(windows @ phase) / WINDOW)


def onsets(times: list[float], gap: float) -> list[float]:
    """The first time of each run (runs are separated by more than `gap`)."""
    return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > gap]


def leftovers(folder: Path, name: str) -> list[str]:
    """Files a render to `folder/name` left behind (the file, or its partial)."""
    return [x for x in os.listdir(folder) if x in (name, f".{name}.partial")]


def altered_copy(data_dir: Path, session: str, copy: Path) -> Path:
    """A copy of the data dir with one bit flipped in a sealed segment of the learner."""
    shutil.copytree(data_dir / "recordings", copy / "recordings")
    shutil.copy(data_dir / "recording-kek", copy / "recording-kek")
    folder = copy / "recordings" / session / "tracks" / "learner-video"
    segment = sorted(folder.glob("*.seg"))[1]
    blob = bytearray(segment.read_bytes())
    blob[-100] ^= 1
    segment.write_bytes(bytes(blob))
    return copy


def nearest(times: list[float], t: float) -> float:
    return min(times, key=lambda x: abs(x - t))


async def run_render(data_dir: Path, session: str, out: Path, *extra: str
                     ) -> tuple[int | None, str, str]:
    """`liveroom render` in its own process, as an operator runs it: exit code, stdout,
    stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signalling.cli", "render", session, "--out", str(out), *extra,
        env={**os.environ, "LIVEROOM_DATA_DIR": str(data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode, stdout.decode().strip(), stderr.decode()


async def render(data_dir: Path, session: str, out: Path, *extra: str) -> tuple[str, float]:
    """A render that must succeed: its result line and how long the process took."""
    started = time.monotonic()
    code, stdout, stderr = await run_render(data_dir, session, out, *extra)
    assert code == 0, stderr[-2000:]
    return stdout, time.monotonic() - started


async def recorded_lesson(node: RunningNode, clients: Clients, room: str) -> float:
    """A 1:1 lesson recorded for LESSON_S s, the learner late; returns its wall time."""
    tutor = clients.new(node, room, "tutor", Role.TUTOR)
    await tutor.join()
    opened = time.monotonic()  # the room opens with the tutor: the recording starts
    await tutor.publish(list(probe_tracks(ProbeConfig(beep_hz=TUTOR_HZ))))
    await asyncio.sleep(LATE_S)
    learner = clients.add(Client(node.url, room, node.token(room, "learner", Role.LEARNER,
                                                             consent=CONSENT)))
    await learner.join()
    await learner.publish(list(probe_tracks(ProbeConfig(beep_hz=LEARNER_HZ))))
    await learner.wait_for(lambda c: any(
        e.recorded == ["learner", "tutor"] for e in c.events_of(p.RecordingStarted)),
        timeout=10)
    await asyncio.sleep(LESSON_S - LATE_S)
    await stop_recording(node, room)
    wall = time.monotonic() - opened
    await tutor.wait_for(lambda c: bool(c.events_of(p.RecordingStopped)), timeout=10)
    await tutor.close()
    await learner.close()
    return wall


async def test_render_decodes_lasts_the_session_and_shows_both_videos_and_both_voices(
    node_factory: Callable[..., object], tmp_path: Path, clients: Clients
) -> None:
    node: RunningNode = await node_factory(recording=RECORDING)  # type: ignore[misc]
    wall = await recorded_lesson(node, clients, "render-1-1")
    recorder = recorder_of(tmp_path)
    (session,) = recorder.sessions()
    summary = load_summary(tmp_path / "recordings", session)
    files = recorder.open(session)
    first_video = {who: decode(files.final(f"{who}-video")).first_s for who in TILES}
    files.close()
    out = tmp_path / "review.webm"
    said, took = await render(tmp_path, session, out)
    print(f"render: {said}; the process took {took:.1f} s")
    assert said.startswith(f"{out} (webm, ")  # one result line; the log goes to stderr
    assert out.stat().st_mode & 0o077 == 0  # decrypted children's media: owner only
    assert [x["accessed"] for x in recorder.tombstones()] == ["render"]

    c = read_composite(out)
    print(f"session {summary.duration_s:.2f} s (wall {wall:.2f} s), render {c.duration_s:.2f}"
          f" s, {len(c.frames)} frames, audio {len(c.audio) / 48000:.2f} s from "
          f"{c.audio_start_s:.3f} s; first video: {first_video}")
    assert abs(c.duration_s - summary.duration_s) <= 0.5
    assert abs(len(c.frames) - summary.duration_s * FPS) <= 2
    assert abs(len(c.audio) / 48000 - summary.duration_s) <= 0.5
    assert c.frames[0] == 0.0 and abs(c.audio_start_s) <= 0.05

    # both videos, each with its own probe's stamps, on the session clock
    tutor, learner = c.tiles["tutor"], c.tiles["learner"]
    for who, tile in c.tiles.items():
        begins = first_video[who]
        shown = [t for t, _ in tile.stamps]
        live = [t for t in c.frames if begins + 0.5 <= t <= summary.duration_s - 0.5]
        print(f"{who}: video from {begins:.2f} s; stamps read in {len(shown)} of "
              f"{len(c.frames)} frames, black in {len(tile.black)}, first stamp at "
              f"{shown[0]:.2f} s, {len(tile.flashes)} flash frames")
        assert sum(1 for t in shown if t in live) >= 0.9 * len(live)
        assert abs(shown[0] - begins) <= 0.2  # it appears when it began on the session clock
        assert all(t >= begins - 0.1 for t in shown)
        assert [t for t in tile.black if t >= begins + 0.2] == []
        ids = [s.frame_id for _, s in tile.stamps]
        assert ids == sorted(ids) and len(set(ids)) >= 0.9 * len(ids)  # it moves
        # output time and media time (frame id / 30 fps) advance together: no drift, no
        # stall; what spreads is sampling 30 fps at 15 (33 ms) and the recorder's clock slew
        lag = [1000 * (s.frame_id / 30 - t) for t, s in tile.stamps]
        sent = [s.capture_ms - 1000 * t for t, s in tile.stamps]  # + the sender's lateness
        print(f"{who}: media time - output time spreads {max(lag) - min(lag):.0f} ms, "
              f"capture time - output time {max(sent) - min(sent):.0f} ms")
        assert max(lag) - min(lag) <= 120, (min(lag), max(lag))
    assert [t for t in c.frames if t < LATE_S - 0.5 and t not in learner.black] == []
    both = {t: s for t, s in tutor.stamps}
    pairs = [(both[t], s) for t, s in learner.stamps if t in both]
    skew = [a.capture_ms - b.capture_ms for a, b in pairs]
    print(f"capture time, tutor - learner tile at one instant: median "
          f"{statistics.median(skew):.0f} ms, range {min(skew)}..{max(skew)} ms "
          f"({len(skew)} frames)")
    assert len(pairs) >= 0.9 * (summary.duration_s - first_video["learner"] - 1.0) * FPS
    assert all(a.frame_id - b.frame_id > 60 for a, b in pairs)  # the tutor's is on the left
    assert abs(statistics.median(skew)) <= 40
    assert sum(abs(x) <= 67 for x in skew) >= 0.9 * len(skew)  # within 2 frames

    # both voices in the mix, each beep with its participant's flash, silence between
    for who, hz in (("tutor", TUTOR_HZ), ("learner", LEARNER_HZ)):
        levels = tone_levels(c.audio, hz)
        loud = [c.audio_start_s + float(i) * WINDOW / 48000
                for i in np.flatnonzero(levels > 0.2)]
        beeps = onsets(loud, 0.3)
        flashes = onsets(c.tiles[who].flashes, 0.3)
        offsets = [1000 * (nearest(beeps, f) - f) for f in flashes]
        share = len(loud) / len(levels)
        print(f"{who} {hz:.0f} Hz: {len(beeps)} beeps, {len(flashes)} flashes, loud in "
              f"{100 * share:.1f} % of 10 ms windows, beep - flash "
              f"{[round(x) for x in offsets]} ms")
        published = summary.duration_s - first_video[who]
        assert abs(len(beeps) - published) <= 2 and abs(len(flashes) - published) <= 2
        assert 0.06 <= share <= 0.14  # 100 ms in every second, and nothing else
        assert all(abs(x) <= 120 for x in offsets)  # flashes are seen at 15 fps
        assert all(b >= first_video[who] - 0.1 for b in beeps)

    # the same session as MP4 (H.264 + AAC: this PyAV build has both encoders)
    mp4 = tmp_path / "review.mp4"
    said, took = await render(tmp_path, session, mp4, "--format", "mp4")
    print(f"render mp4: {said}; the process took {took:.1f} s")
    m = read_composite(mp4)
    print(f"mp4: {m.duration_s:.2f} s, {len(m.frames)} frames")
    assert abs(m.duration_s - summary.duration_s) <= 0.5
    assert abs(len(m.frames) - summary.duration_s * FPS) <= 2
    for who in TILES:
        assert len(m.tiles[who].stamps) >= 0.8 * len(c.tiles[who].stamps)

    # bounded in time: a render past its --timeout stops, exits 3 and leaves no file
    late = tmp_path / "late.webm"
    code, _, stderr = await run_render(tmp_path, session, late, "--timeout", "0.5")
    assert code == 3 and "render_timed_out" in stderr
    assert leftovers(tmp_path, "late.webm") == []
    # decrypted only through the seal: an altered segment stops the render, no file
    copy = altered_copy(tmp_path, session, tmp_path / "altered")
    code, _, stderr = await run_render(copy, session, copy / "x.webm")
    assert code == 2 and "segment_refused" in stderr
    assert leftovers(copy, "x.webm") == []
