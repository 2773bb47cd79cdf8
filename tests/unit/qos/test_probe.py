"""Tests for the probe: stamp, deterministic sources, and the analyzer measuring known
impairments injected into VP8/Opus-coded probe media (encoded and decoded with PyAV)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import pytest

from qos.probe import PSNR_CAP_DB, ProbeAnalyzer, ProbeReport, luma_plane, psnr, to_mono
from qos.probe_source import ProbeConfig, audio_frame, audio_samples, draw_luma, video_frame
from qos.stamp import Stamp, crc8, read_stamp, write_stamp

CONFIG = ProbeConfig(width=320, height=240)
SECONDS = 3
FRAMES = SECONDS * CONFIG.fps
T0 = 2**32 - 1500  # the 32-bit capture stamp wraps 1.5 s in: latency must unwrap it
LATENCY = 50.0
FRAME_MS = 1000 / CONFIG.fps

# Tolerances the probe is held to (docs/quality.md repeats them).
LATENCY_TOL_MS = 1.0  # stamps carry whole milliseconds
AV_TOL_MS = 10.0  # Opus adds ~6.5 ms of decoder delay (pre-skip) on top of the true offset
AV_DELTA_TOL_MS = 1.0  # a change of offset is measured to the sample
FREEZE_TOL_MS = FRAME_MS + 1.0


def encode_decode_video(
    config: ProbeConfig, frames: int, bitrate: int, start_ms: int = T0
) -> list[av.VideoFrame]:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = config.width, config.height, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, config.fps), Fraction(config.fps)
    encoder.bit_rate = bitrate
    encoder.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "threads": "1",
    }
    decoder = av.CodecContext.create("vp8", "r")
    decoded: list[av.VideoFrame] = []
    for i in range(frames):
        frame = video_frame(config, i, (start_ms + round(i * 1000 / config.fps)) & 0xFFFFFFFF)
        frame.pts, frame.time_base = i, encoder.time_base
        for packet in encoder.encode(frame):
            decoded += decoder.decode(packet)
    assert len(decoded) == frames
    return decoded


def encode_decode_audio(config: ProbeConfig, frames: int) -> list[av.AudioFrame]:
    """Opus round trip, decoded to stereo s16 as aiortc's OpusDecoder does."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48_000, "mono", "s16"
    encoder.bit_rate, encoder.time_base = 32_000, Fraction(1, 48_000)
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout, decoder.format = 48_000, "stereo", "s16"
    decoded: list[av.AudioFrame] = []
    for k in range(frames):
        for packet in encoder.encode(audio_frame(config, k)):
            decoded += decoder.decode(packet)
    return decoded


@dataclass
class Media:
    video: list[av.VideoFrame]
    audio: list[av.AudioFrame]


@pytest.fixture(scope="module")
def media() -> Media:
    audio_frames = SECONDS * CONFIG.sample_rate // CONFIG.audio_frame_samples
    return Media(
        encode_decode_video(CONFIG, FRAMES, 1_000_000), encode_decode_audio(CONFIG, audio_frames)
    )


def video_time(i: int) -> float:
    return T0 + i * FRAME_MS + LATENCY


def analyze(
    media: Media,
    *,
    video: Iterable[tuple[int, float]] | None = None,
    audio_shift_ms: float = 0.0,
    end_ms: float | None = None,
) -> ProbeReport:
    """Feed (decoded frame index, receive time) pairs, and the audio played from ``T0``."""
    analyzer = ProbeAnalyzer(CONFIG)
    for i, t in video if video is not None else ((i, video_time(i)) for i in range(FRAMES)):
        analyzer.on_video_frame(media.video[i], t)
    played = 0
    for frame in media.audio:
        analyzer.on_audio_frame(frame, T0 + played * 1000 / 48_000 + LATENCY + audio_shift_ms)
        played += frame.samples
    return analyzer.report(end_ms)


# --- stamp and sources -------------------------------------------------------------------


def test_crc8_check_value() -> None:
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS


@pytest.mark.parametrize("stamp", [Stamp(0, 0), Stamp(12345, 678_901), Stamp(2**32 - 1, 2**32 - 1)])
def test_stamp_round_trip(stamp: Stamp) -> None:
    luma = np.full((240, 320), 128, dtype=np.uint8)
    write_stamp(luma, stamp)
    assert read_stamp(luma) == stamp


def test_a_damaged_or_missing_stamp_reads_as_none() -> None:
    luma = np.full((240, 320), 128, dtype=np.uint8)
    assert read_stamp(luma) is None
    write_stamp(luma, Stamp(7, 9))
    luma[3 * 16 : 4 * 16, 19 * 16 :] = 255 - luma[3 * 16 : 4 * 16, 19 * 16 :]  # flip a CRC bit
    assert read_stamp(luma) is None
    assert read_stamp(np.zeros((30, 40), dtype=np.uint8)) is None


def test_video_source_is_deterministic_and_flashes_on_schedule() -> None:
    assert np.array_equal(draw_luma(CONFIG, 31, 99), draw_luma(CONFIG, 31, 99))
    assert not np.array_equal(draw_luma(CONFIG, 31, 99), draw_luma(CONFIG, 32, 99))
    flashes = [i for i in range(90) if CONFIG.is_flash(i)]
    assert flashes == [0, 1, 2, 30, 31, 32, 60, 61, 62]
    assert draw_luma(CONFIG, 30, 0)[150, 160] == 235
    assert draw_luma(CONFIG, 33, 0)[150, 160] != 235
    frame = video_frame(CONFIG, 5, 1234)
    assert (frame.width, frame.height, frame.format.name) == (320, 240, "yuv420p")


def test_audio_source_beeps_with_each_flash() -> None:
    per_second = CONFIG.sample_rate // CONFIG.audio_frame_samples
    assert np.abs(audio_samples(CONFIG, 0)).max() > 16_000  # 0-20 ms: beep
    assert not audio_samples(CONFIG, 5).any()  # 100-120 ms: silence
    assert audio_samples(CONFIG, per_second)[0] == 0  # the tone starts at phase 0 ...
    assert np.abs(audio_samples(CONFIG, per_second)[:10]).max() > 0  # ... with the flash
    frame = audio_frame(CONFIG, 3)
    assert (frame.samples, frame.sample_rate, frame.pts) == (960, 48_000, 2880)


def test_config_rejects_flashes_that_are_not_whole_frames() -> None:
    with pytest.raises(ValueError):
        ProbeConfig(flash_ms=50)
    with pytest.raises(ValueError):
        ProbeConfig(width=100, height=80)


def test_psnr_of_known_errors() -> None:
    ref = np.full((240, 320), 100, dtype=np.uint8)
    assert psnr(ref, ref) == PSNR_CAP_DB
    assert psnr(ref + 1, ref) == pytest.approx(48.13, abs=0.01)  # MSE 1
    assert psnr(ref + 10, ref) == pytest.approx(28.13, abs=0.01)  # MSE 100


def test_to_mono_reads_packed_and_planar_frames() -> None:
    packed = av.AudioFrame.from_ndarray(
        np.array([[16384, -1, -16384, -1]], dtype=np.int16), format="s16", layout="stereo"
    )
    assert to_mono(packed).tolist() == [0.5, -0.5]
    planar = av.AudioFrame.from_ndarray(
        np.array([[0.25, -0.25], [0.9, 0.9]], dtype=np.float32), format="fltp", layout="stereo"
    )
    assert to_mono(planar).tolist() == [0.25, -0.25]


# --- the analyzer on coded media ------------------------------------------------------------


def test_stamps_survive_vp8_at_640x480_and_1_mbps() -> None:
    config = ProbeConfig()
    analyzer = ProbeAnalyzer(config)
    for i, frame in enumerate(encode_decode_video(config, 30, 1_000_000, start_ms=0)):
        seen = analyzer.on_video_frame(frame, i * 1000 / 30 + 80)
        assert seen.frame_id == i and seen.latency_ms == pytest.approx(80, abs=LATENCY_TOL_MS)
    report = analyzer.report()
    assert report.unreadable_frames == 0
    assert report.psnr_db is not None and report.psnr_db.mean >= 30.0


def test_clean_run_measures_latency_and_nothing_else(media: Media) -> None:
    report = analyze(media)
    assert (report.video_frames, report.unreadable_frames, report.unique_frames) == (90, 0, 90)
    assert (report.dropped_frames, report.repeated_frames, report.out_of_order_frames) == (0, 0, 0)
    assert report.latency_ms is not None
    assert report.latency_ms.p50 == pytest.approx(LATENCY, abs=LATENCY_TOL_MS)
    assert report.latency_ms.max - report.latency_ms.min <= 2 * LATENCY_TOL_MS
    assert report.freezes.freeze_count == 0
    assert report.freezes.harmonic_fps == pytest.approx(30.0, abs=0.1)
    assert report.psnr_db is not None
    assert report.psnr_db.mean >= 30.0 and report.psnr_db.min >= 25.0
    assert (report.flashes, report.beeps) == (SECONDS, SECONDS)
    assert report.av_offset_ms is not None and report.av_offset_ms.count == SECONDS
    assert abs(report.av_offset_ms.mean) <= AV_TOL_MS


def test_an_extra_100_ms_of_delay_shows_as_latency(media: Media) -> None:
    report = analyze(media, video=((i, video_time(i) + 100) for i in range(FRAMES)))
    assert report.latency_ms is not None
    assert report.latency_ms.p50 == pytest.approx(LATENCY + 100, abs=LATENCY_TOL_MS)
    assert report.latency_ms.p95 == pytest.approx(LATENCY + 100, abs=LATENCY_TOL_MS)
    assert report.freezes.freeze_count == 0


def test_dropping_5_percent_of_frames_is_counted_exactly(media: Media) -> None:
    rng = np.random.default_rng(5)
    dropped = set(rng.choice(np.arange(1, FRAMES - 1), size=round(0.05 * FRAMES), replace=False))
    report = analyze(media, video=((i, video_time(i)) for i in range(FRAMES) if i not in dropped))
    assert report.dropped_frames == len(dropped) == 4
    assert report.expected_frames == FRAMES
    assert report.drop_ratio == pytest.approx(len(dropped) / FRAMES)
    assert report.repeated_frames == 0


def test_a_source_frozen_for_one_second_by_repeating_a_frame(media: Media) -> None:
    frozen = range(35, 65)  # the picture of frame 34 is shown in their place
    feed = [(34 if i in frozen else i, video_time(i)) for i in range(FRAMES)]
    report = analyze(media, video=feed)
    assert report.repeated_frames == len(frozen)
    assert report.dropped_frames == len(frozen)
    assert report.freezes.freeze_count == 1
    assert report.freezes.total_freeze_ms == pytest.approx(1000 + FRAME_MS, abs=FREEZE_TOL_MS)
    assert report.freezes.freeze_ratio == pytest.approx(1033.3 / (89 * FRAME_MS), abs=0.02)


def test_a_source_that_stops_for_one_second(media: Media) -> None:
    stopped = range(35, 65)
    report = analyze(media, video=((i, video_time(i)) for i in range(FRAMES) if i not in stopped))
    assert report.freezes.freeze_count == 1
    assert report.freezes.total_freeze_ms == pytest.approx(1000 + FRAME_MS, abs=FREEZE_TOL_MS)
    assert report.dropped_frames == len(stopped)
    assert report.flashes == SECONDS - 1  # the flash at frame 60 was never shown


def test_a_trailing_stop_counts_with_an_end_time(media: Media) -> None:
    end = video_time(FRAMES - 1) + 1000
    report = analyze(media, end_ms=end)
    assert report.freezes.freeze_count == 1
    assert report.freezes.total_freeze_ms == pytest.approx(1000)


@pytest.mark.parametrize("shift", [80.0, -40.0])
def test_an_audio_shift_is_measured_as_av_offset(media: Media, shift: float) -> None:
    baseline = analyze(media).av_offset_ms
    shifted = analyze(media, audio_shift_ms=shift).av_offset_ms
    assert baseline is not None and shifted is not None
    # audio later (shift > 0) means audio lags: a negative offset
    assert shifted.mean - baseline.mean == pytest.approx(-shift, abs=AV_DELTA_TOL_MS)
    assert shifted.mean == pytest.approx(-shift, abs=AV_TOL_MS)
    assert shifted.max - shifted.min <= AV_DELTA_TOL_MS


def test_psnr_drops_when_the_picture_is_damaged(media: Media) -> None:
    clean = luma_plane(media.video[10])
    noise = np.random.default_rng(1).normal(0, 16, clean.shape)
    noisy = np.clip(clean + noise, 0, 255).astype(np.uint8)
    noisy[: 4 * 16] = clean[: 4 * 16]  # keep the stamp readable
    before = ProbeAnalyzer(CONFIG).on_luma(clean, video_time(10)).psnr_db
    after = ProbeAnalyzer(CONFIG).on_luma(noisy, video_time(10)).psnr_db
    assert before is not None and after is not None
    assert after < 27.0 < 30.0 < before  # noise alone on 73% of the picture: ~25 dB


def test_unreadable_frames_are_counted_and_still_render(media: Media) -> None:
    analyzer = ProbeAnalyzer(CONFIG)
    for i in range(10):
        analyzer.on_video_frame(media.video[i], video_time(i))
    gray = np.full((CONFIG.height, CONFIG.width), 128, dtype=np.uint8)
    seen = analyzer.on_luma(gray, video_time(10))
    assert seen.frame_id is None and not seen.flash
    report = analyzer.report()
    assert (report.unreadable_frames, report.freezes.frames) == (1, 11)


def test_late_frames_are_out_of_order_not_dropped(media: Media) -> None:
    feed = [(i, video_time(i)) for i in range(FRAMES)]
    feed[20], feed[21] = (21, video_time(20)), (20, video_time(21))
    report = analyze(media, video=feed)
    assert (report.out_of_order_frames, report.dropped_frames) == (1, 0)


def test_psnr_every_n_frames() -> None:
    analyzer = ProbeAnalyzer(CONFIG, psnr_every=3)
    for i in range(9):
        analyzer.on_luma(draw_luma(CONFIG, i, i), float(i))
    report = analyzer.report()
    assert report.psnr_db is not None
    assert (report.psnr_db.count, report.psnr_db.min) == (3, PSNR_CAP_DB)
    with pytest.raises(ValueError):
        ProbeAnalyzer(CONFIG, psnr_every=0)
