"""Tests for qos.mos: every E-model formula against worked values."""

from __future__ import annotations

import pytest

from qos.mos import (
    DEFAULT_BPL,
    burst_ratio,
    burst_ratio_of,
    delay_impairment,
    e_model_mos,
    e_model_r,
    effective_latency_mos,
    effective_latency_r,
    loss_impairment,
    mos_from_r,
)


@pytest.mark.parametrize(("r", "mos"), [(90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10)])
def test_mos_from_r_matches_the_g107_table(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)


def test_mos_from_r_is_clamped_outside_0_to_100() -> None:
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(0) == 1.0
    assert mos_from_r(100) == pytest.approx(4.5)
    assert mos_from_r(120) == 4.5


def test_delay_impairment_is_linear_below_the_knee_and_steeper_above() -> None:
    assert delay_impairment(0) == 0.0
    assert delay_impairment(100) == pytest.approx(2.4)
    assert delay_impairment(177.3) == pytest.approx(4.2552)
    # 0.024*300 + 0.11*(300 - 177.3)
    assert delay_impairment(300) == pytest.approx(20.697)
    with pytest.raises(ValueError):
        delay_impairment(-1)


def test_loss_impairment_with_the_default_bpl_of_25() -> None:
    assert DEFAULT_BPL == 25.0
    assert loss_impairment(0) == 0.0
    assert loss_impairment(1) == pytest.approx(95 / 26)  # 3.654
    assert loss_impairment(5) == pytest.approx(475 / 30)  # 15.833


def test_loss_impairment_with_bpl_20_and_with_bursts() -> None:
    assert loss_impairment(1, bpl=20) == pytest.approx(95 / 21)  # 4.524
    assert loss_impairment(5, bpl=20) == pytest.approx(19.0)
    assert loss_impairment(5, burst_r=2) == pytest.approx(475 / 27.5)  # bursty hurts more
    assert loss_impairment(5, ie=10) == pytest.approx(10 + 85 * 5 / 30)
    with pytest.raises(ValueError):
        loss_impairment(101)


def test_burst_ratio_equals_g107_markov_form() -> None:
    p, q = 0.01, 0.3  # P(lost | received), P(received | lost)
    loss = p / (p + q)
    assert burst_ratio(loss, 1 / q) == pytest.approx(1 / (p + q))
    assert burst_ratio(0.05, 1 / 0.95) == pytest.approx(1.0)  # random loss


def test_burst_ratio_of_an_observed_pattern() -> None:
    pattern = [False, True, True, False, False, False, True, True, False, False]
    assert burst_ratio_of(pattern) == pytest.approx(2 * 0.6)  # mean burst 2, loss 40%
    assert burst_ratio_of([False] * 5) == 1.0
    assert burst_ratio_of([True] * 5) == 1.0


def test_e_model_r_and_mos() -> None:
    assert e_model_r(0, 0) == pytest.approx(93.2)
    assert e_model_mos(0, 0) == pytest.approx(4.41, abs=0.01)
    assert e_model_r(100, 1) == pytest.approx(93.2 - 2.4 - 95 / 26)
    assert e_model_r(300, 5, bpl=20) == pytest.approx(93.2 - 20.697 - 19.0)
    assert e_model_mos(150, 5) == pytest.approx(mos_from_r(93.2 - 3.6 - 475 / 30))


def test_effective_latency_form() -> None:
    # EL = 20 + 2*5 + 10 = 40 -> R = 93.2 - 1
    assert effective_latency_r(20, 5, 0) == pytest.approx(92.2)
    # EL = 200 + 20 + 10 = 230 -> R = 93.2 - 11, minus 2.5 per loss percent
    assert effective_latency_r(200, 10, 2) == pytest.approx(77.2)
    # the two branches meet at EL = 160
    assert effective_latency_r(150, 0, 0) == pytest.approx(89.2)
    assert effective_latency_r(149.999, 0, 0) == pytest.approx(89.2, abs=1e-3)
    assert effective_latency_mos(20, 5, 0) == pytest.approx(mos_from_r(92.2))
    with pytest.raises(ValueError):
        effective_latency_r(-1, 0, 0)
