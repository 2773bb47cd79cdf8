"""Tests for qos.window: percentiles, gauge windows, loss and rate from cumulative counters."""

from __future__ import annotations

import pytest

from qos.window import LossWindow, RateWindow, TimeSeries, summarize


def test_summarize_gives_linear_interpolated_percentiles() -> None:
    stats = summarize(float(v) for v in range(1, 101))
    assert stats is not None
    assert stats.count == 100
    assert stats.mean == pytest.approx(50.5)
    assert (stats.min, stats.max) == (1.0, 100.0)
    assert stats.p5 == pytest.approx(5.95)
    assert stats.p50 == pytest.approx(50.5)
    assert stats.p95 == pytest.approx(95.05)


def test_summarize_of_nothing_is_none() -> None:
    assert summarize([]) is None


def test_time_series_keeps_only_the_window_and_skips_missing_values() -> None:
    series = TimeSeries(window_ms=1000)
    for t, v in [(0, 10.0), (500, 20.0), (900, None), (1000, 30.0), (1500, 40.0)]:
        series.add(t, v)
    assert series.values(1500) == [30.0, 40.0]  # samples at t > 500
    stats = series.stats(1500)
    assert stats is not None and stats.p50 == pytest.approx(35.0)
    assert series.values(3000) == []
    assert series.stats(3000) is None


def test_time_series_refuses_time_going_backwards() -> None:
    series = TimeSeries(window_ms=1000)
    series.add(100, 1.0)
    with pytest.raises(ValueError):
        series.add(99, 1.0)
    with pytest.raises(ValueError):
        TimeSeries(window_ms=0)


def test_loss_window_from_cumulative_counters() -> None:
    window = LossWindow(window_ms=1500)
    assert window.loss(0) is None
    window.add(0, 0, 0)  # baseline
    window.add(1000, 1, 99)
    window.add(2000, 6, 194)
    assert window.loss(2000) == pytest.approx(6 / 200)
    assert window.loss(2600) == pytest.approx(5 / 100)  # the first interval left the window
    assert window.loss(5000) is None  # nothing due in the window
    assert window.loss_total() == pytest.approx(6 / 200)


def test_loss_window_first_sample_is_a_baseline() -> None:
    window = LossWindow(window_ms=10_000)
    window.add(0, 50, 1000)  # counters from before we started watching
    window.add(1000, 52, 1098)
    assert window.loss(1000) == pytest.approx(2 / 100)


def test_loss_window_counts_from_zero_after_a_counter_reset() -> None:
    window = LossWindow(window_ms=10_000)
    window.add(0, 0, 0)
    window.add(1000, 10, 990)
    window.add(2000, 2, 48)  # new peer connection: counters restarted
    assert window.resets == 1
    assert window.total_lost == 12
    assert window.total_received == 1038
    assert window.loss(2000) == pytest.approx(12 / 1050)


def test_loss_window_clamps_a_shrinking_lost_counter() -> None:
    window = LossWindow(window_ms=1000)
    window.add(0, 10, 990)
    window.add(500, 9, 1091)  # duplicates make RFC 3550 cumulative loss go down
    assert window.loss(500) == 0.0


def test_rate_window_turns_a_byte_counter_into_bits_per_second() -> None:
    bitrate = RateWindow(window_ms=5000, scale=8)
    assert bitrate.add(0, 0) is None
    assert bitrate.add(1000, 125_000) == pytest.approx(1_000_000)
    assert bitrate.add(1500, 156_250) == pytest.approx(500_000)
    assert bitrate.rate(1500) == pytest.approx(156_250 * 8 / 1.5)
    stats = bitrate.stats(1500)
    assert stats is not None and (stats.min, stats.max) == (500_000, 1_000_000)
    assert bitrate.rate(10_000) is None


def test_rate_window_fps_and_counter_reset() -> None:
    fps = RateWindow(window_ms=2000)
    fps.add(0, 100)
    assert fps.add(1000, 130) == pytest.approx(30)
    assert fps.add(2000, 25) == pytest.approx(25)  # decoder restarted: counts from zero
    assert fps.rate(2000) == pytest.approx(27.5)
