"""Tests for qos.score: instant MOS of network samples and asymmetric smoothing in time."""

from __future__ import annotations

import math

import pytest

from qos.mos import e_model_mos
from qos.score import NetworkSample, Quality, QualityScorer, ScoreConfig, mos_of

CLEAN = NetworkSample(loss=0.0, jitter_ms=5.0, rtt_ms=40.0)
BAD = NetworkSample(loss=0.2, jitter_ms=30.0, rtt_ms=300.0)


def test_instant_mos_uses_half_the_rtt_plus_twice_the_jitter_as_delay() -> None:
    assert mos_of(CLEAN) == pytest.approx(e_model_mos(20 + 10, 0))
    assert mos_of(BAD) == pytest.approx(e_model_mos(150 + 60, 20))
    assert mos_of(NetworkSample(0.01, 0.0, None)) == pytest.approx(e_model_mos(0, 1))
    with pytest.raises(ValueError):
        mos_of(NetworkSample(1.5, 0.0, None))


def test_the_first_sample_sets_the_score() -> None:
    scorer = QualityScorer()
    assert scorer.score is None
    update = scorer.update(0, CLEAN)
    assert update.score == pytest.approx(mos_of(CLEAN))
    assert update.quality is Quality.EXCELLENT
    assert not update.changed


def test_score_falls_fast() -> None:
    scorer = QualityScorer()
    for t in range(0, 10_001, 1000):
        scorer.update(t, CLEAN)
    updates = [scorer.update(10_000 + t, BAD) for t in range(500, 3001, 500)]
    assert updates[1].quality is not Quality.EXCELLENT  # after one second
    assert updates[-1].quality is Quality.POOR  # after three seconds
    assert sum(u.changed for u in updates) >= 2


def test_score_recovers_slowly() -> None:
    scorer = QualityScorer()
    for t in range(0, 5001, 1000):
        scorer.update(t, BAD)
    assert scorer.update(5000, BAD).quality is Quality.POOR
    after_3s = [scorer.update(5000 + t, CLEAN) for t in range(1000, 3001, 1000)][-1]
    assert after_3s.quality in (Quality.POOR, Quality.FAIR)
    for t in range(4000, 30_001, 1000):
        last = scorer.update(5000 + t, CLEAN)
    assert last.quality is Quality.EXCELLENT


def test_smoothing_depends_on_elapsed_time_not_on_the_update_rate() -> None:
    coarse, fine = QualityScorer(), QualityScorer()
    coarse.update(0, CLEAN)
    fine.update(0, CLEAN)
    coarse.update(2000, BAD)
    for t in range(250, 2001, 250):
        fine.update(t, BAD)
    assert coarse.score == pytest.approx(fine.score)
    expected = mos_of(BAD) + (mos_of(CLEAN) - mos_of(BAD)) * math.exp(-2.0)
    assert coarse.score == pytest.approx(expected)


def test_no_media_is_lost_at_once_and_recovery_starts_from_the_bottom() -> None:
    scorer = QualityScorer()
    scorer.update(0, CLEAN)
    lost = scorer.update(1000, None)
    assert (lost.quality, lost.score, lost.changed) == (Quality.LOST, 1.0, True)
    back = scorer.update(2000, CLEAN)
    assert back.changed and back.quality is Quality.POOR
    assert back.score == pytest.approx(1 + (mos_of(CLEAN) - 1) * (1 - math.exp(-0.1)))


def test_an_external_mos_is_clamped_and_bands_are_configurable() -> None:
    scorer = QualityScorer(ScoreConfig(excellent=4.4, good=3.0, fair=2.0))
    assert scorer.update_mos(0, 7.0).score == 4.5
    assert scorer.update_mos(0, 4.2).quality is Quality.EXCELLENT  # dt = 0: no movement yet
    assert QualityScorer(ScoreConfig(excellent=4.4)).update_mos(0, 4.2).quality is Quality.GOOD
    assert QualityScorer().update_mos(0, -1).score == 1.0


def test_time_must_not_go_backwards() -> None:
    scorer = QualityScorer()
    scorer.update(1000, CLEAN)
    with pytest.raises(ValueError):
        scorer.update(999, CLEAN)
