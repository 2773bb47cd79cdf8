"""Tests for qos.freeze: Chrome's freeze and pause rules on synthetic frame timings."""

from __future__ import annotations

import pytest

from qos.freeze import FreezeDetector, StallKind


def feed(detector: FreezeDetector, times: list[float]) -> None:
    for t in times:
        detector.on_frame(t)


def steady(start: float, count: int, interval: float) -> list[float]:
    return [start + i * interval for i in range(count)]


def test_steady_30_fps_has_no_freezes_and_a_harmonic_rate_of_30() -> None:
    detector = FreezeDetector()
    feed(detector, steady(0, 301, 1000 / 30))
    summary = detector.summary()
    assert summary.frames == 301
    assert summary.duration_ms == pytest.approx(10_000)
    assert (summary.freeze_count, summary.pause_count) == (0, 0)
    assert summary.freeze_ratio == 0.0
    assert summary.harmonic_fps == pytest.approx(30.0)


def test_a_half_second_gap_at_30_fps_is_one_freeze() -> None:
    detector = FreezeDetector()
    times = steady(0, 100, 1000 / 30)
    times += steady(times[-1] + 500, 100, 1000 / 30)
    feed(detector, times)
    summary = detector.summary()
    assert summary.freeze_count == 1
    assert summary.total_freeze_ms == pytest.approx(500)
    assert summary.freeze_ratio == pytest.approx(500 / summary.duration_ms)
    assert summary.freezes_per_minute == pytest.approx(60_000 / summary.duration_ms)
    # harmonic rate = span / sum of squared intervals
    sq = 198 * (1000 / 30) ** 2 + 500**2
    assert summary.harmonic_fps == pytest.approx(summary.duration_ms * 1000 / sq)
    assert detector.stalls[0].start_ms == pytest.approx(99 * 1000 / 30)


def test_the_threshold_uses_the_floored_average_including_the_gap() -> None:
    # 29 intervals of 33 ms, then d: avg = floor((957 + d) / 30) = 38, threshold max(114, 188)
    for gap, frozen in [(187, False), (188, True)]:
        detector = FreezeDetector()
        feed(detector, steady(0, 30, 33))
        stall = detector.on_frame(29 * 33 + gap)
        assert (stall is not None) is frozen, gap


def test_detection_starts_after_five_intervals() -> None:
    early = FreezeDetector()
    feed(early, [0, 33, 66, 99, 1099])  # the gap is the 4th interval
    assert early.summary().freeze_count == 0
    ready = FreezeDetector()
    feed(ready, [0, 33, 66, 99, 132, 1132])  # the 5th: avg 226, threshold 678
    assert ready.summary().freeze_count == 1


def test_at_a_low_frame_rate_the_3x_rule_decides() -> None:
    detector = FreezeDetector()
    feed(detector, steady(0, 31, 200))  # 5 fps
    assert detector.on_frame(6000 + 500) is None  # 500 < 3 * 210
    detector = FreezeDetector()
    feed(detector, steady(0, 31, 200))
    stall = detector.on_frame(6000 + 700)  # avg 216: 700 >= 648
    assert stall is not None and stall.kind is StallKind.FREEZE


def test_more_than_five_seconds_without_a_frame_is_a_pause_not_a_freeze() -> None:
    detector = FreezeDetector()
    times = steady(0, 60, 1000 / 30)
    feed(detector, times)
    stall = detector.on_frame(times[-1] + 6000)
    assert stall is not None and stall.kind is StallKind.PAUSE
    # the pause did not enter the average: normal frames right after it are no freeze
    feed(detector, steady(times[-1] + 6000 + 1000 / 30, 30, 1000 / 30))
    summary = detector.summary()
    assert (summary.pause_count, summary.freeze_count) == (1, 0)
    assert summary.total_pause_ms == pytest.approx(6000)


def test_exactly_five_seconds_is_still_a_freeze() -> None:
    detector = FreezeDetector()
    feed(detector, steady(0, 30, 1000 / 30))
    stall = detector.on_frame(29 * 1000 / 30 + 5000)
    assert stall is not None and stall.kind is StallKind.FREEZE


def test_summary_end_counts_a_trailing_stall_only() -> None:
    detector = FreezeDetector()
    times = steady(0, 60, 1000 / 30)
    feed(detector, times)
    assert detector.summary(end_ms=times[-1] + 20).freeze_count == 0
    assert detector.summary(end_ms=times[-1] + 20).duration_ms == pytest.approx(times[-1])
    trailing = detector.summary(end_ms=times[-1] + 2000)
    assert trailing.freeze_count == 1
    assert trailing.duration_ms == pytest.approx(times[-1] + 2000)
    assert detector.summary(end_ms=times[-1] + 7000).pause_count == 1
    assert detector.summary().freeze_count == 0  # summaries do not change the detector


def test_empty_and_single_frame_summaries() -> None:
    detector = FreezeDetector()
    assert detector.summary().harmonic_fps is None
    detector.on_frame(5.0)
    summary = detector.summary()
    assert (summary.frames, summary.duration_ms, summary.freeze_ratio) == (1, 0.0, 0.0)


def test_frame_times_must_not_go_backwards() -> None:
    detector = FreezeDetector()
    detector.on_frame(10)
    with pytest.raises(ValueError):
        detector.on_frame(9)
