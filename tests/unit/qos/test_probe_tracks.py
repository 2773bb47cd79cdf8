"""Tests for qos.probe_tracks: paced aiortc tracks of probe media, on a fake clock."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.mediastreams import MediaStreamError

from qos.probe import ProbeAnalyzer, luma_plane
from qos.probe_source import ProbeConfig
from qos.probe_tracks import MAX_BURST, probe_tracks
from qos.stamp import read_stamp

CONFIG = ProbeConfig(width=320, height=240)


class FakeTime:
    """A monotonic clock that only moves when a track sleeps."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_video_track_paces_stamps_and_times_its_frames() -> None:
    fake = FakeTime()
    _, video = probe_tracks(CONFIG, clock=fake.clock, sleep=fake.sleep)
    frames = [await video.recv() for _ in range(31)]
    assert fake.now == pytest.approx(101.0)
    for i, frame in enumerate(frames):
        assert frame.pts == i * 3000 and frame.time_base == Fraction(1, 90_000)
        luma = luma_plane(frame)
        stamp = read_stamp(luma)
        assert stamp is not None and stamp.frame_id == i
        assert stamp.capture_ms == pytest.approx((100.0 + i / 30) * 1000, abs=1.0)
    assert (video.frames_sent, video.frames_skipped) == (31, 0)


async def test_audio_track_gives_20_ms_frames_in_samples_time_base() -> None:
    fake = FakeTime()
    audio, _ = probe_tracks(CONFIG, clock=fake.clock, sleep=fake.sleep)
    frames = [await audio.recv() for _ in range(51)]
    assert fake.now == pytest.approx(101.0)
    assert [f.pts for f in frames[:3]] == [0, 960, 1920]
    assert all(f.samples == 960 and f.sample_rate == 48_000 for f in frames)
    assert frames[50].to_ndarray().any() and not frames[10].to_ndarray().any()  # beep at 1 s


async def test_tracks_share_an_epoch_so_audio_stays_in_step_with_video() -> None:
    fake = FakeTime()
    audio, video = probe_tracks(CONFIG, clock=fake.clock, sleep=fake.sleep)
    await video.recv()  # starts the epoch
    fake.now += 0.5
    first = await audio.recv()
    # 0.5 s late: the audio track skips to slot 25 - MAX_BURST, keeping media time
    assert first.pts == (25 - MAX_BURST) * 960
    assert audio.frames_skipped == 25 - MAX_BURST


async def test_stopped_tracks_end() -> None:
    fake = FakeTime()
    audio, video = probe_tracks(CONFIG, clock=fake.clock, sleep=fake.sleep)
    audio.stop()
    video.stop()
    for track in (audio, video):
        with pytest.raises(MediaStreamError):
            await track.recv()


async def test_probe_video_survives_aiortcs_own_vp8_encoder() -> None:
    fake = FakeTime()
    _, video = probe_tracks(CONFIG, clock=fake.clock, sleep=fake.sleep)
    encoder = Vp8Encoder()  # aiortc's default target: 500 kbps
    decoder = av.CodecContext.create("libvpx", "r")
    analyzer = ProbeAnalyzer(CONFIG)
    for _ in range(30):
        frame = await video.recv()
        payloads, _timestamp = encoder.encode(frame)
        data = b"".join(vp8_depayload(p) for p in payloads)
        for decoded in decoder.decode(av.Packet(data)):
            analyzer.on_video_frame(decoded, fake.now * 1000 + 40)
    report = analyzer.report()
    assert (report.unique_frames, report.unreadable_frames, report.dropped_frames) == (30, 0, 0)
    assert report.latency_ms is not None
    assert report.latency_ms.p50 == pytest.approx(40, abs=1.0)
    assert report.psnr_db is not None and report.psnr_db.min >= 25.0
