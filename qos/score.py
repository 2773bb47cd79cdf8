"""Per-participant quality score from network figures, smoothed asymmetrically in time.

The instant score is a MOS from the E-model (:mod:`qos.mos`) with the one-way delay taken
as RTT/2 + 2·jitter, as LiveKit does (the 2·jitter stands for the jitter buffer). The
score then moves toward each new value exponentially in *time*: with a short time constant
when it falls and a long one when it recovers, so a drop shows at once and a brief recovery
does not hide a bad link. No media at all is ``LOST`` at once.

Quality bands follow ITU-T G.109 on the R scale: R ≥ 80 (MOS ≥ 4.03) users satisfied,
R ≥ 70 (3.60) some dissatisfied, R ≥ 60 (3.10) many dissatisfied, below that nearly all.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from qos.mos import e_model_mos

__all__ = ["NetworkSample", "Quality", "QualityScorer", "ScoreConfig", "ScoreUpdate", "mos_of"]

MIN_SCORE = 1.0


class Quality(enum.Enum):
    """Quality level shown to users and operators."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    LOST = "lost"


@dataclass(frozen=True)
class NetworkSample:
    """Network figures of one participant over the last stats interval."""

    loss: float
    """Fraction of packets lost after retransmission, 0..1."""
    jitter_ms: float
    """Interarrival jitter, ms."""
    rtt_ms: float | None
    """Round-trip time, ms; ``None`` before the first receiver report (counts as 0)."""


@dataclass(frozen=True)
class ScoreConfig:
    """Smoothing time constants and band thresholds (MOS)."""

    fall_tau_ms: float = 1_000.0
    """Time constant when the score falls: 63% of a drop shows within a second."""
    rise_tau_ms: float = 10_000.0
    """Time constant when the score recovers."""
    excellent: float = 4.0
    """R ≈ 80, G.109 "users satisfied"."""
    good: float = 3.6
    """R ≈ 70, "some users dissatisfied"."""
    fair: float = 3.1
    """R = 60, "many users dissatisfied"; below this is ``POOR``."""


@dataclass(frozen=True)
class ScoreUpdate:
    """The scorer's decision after a sample."""

    score: float
    """Smoothed score, MOS scale 1..4.5."""
    quality: Quality
    changed: bool
    """True if ``quality`` differs from the previous update's (tell the room)."""


def mos_of(sample: NetworkSample) -> float:
    """Instant MOS of a sample: E-model with one-way delay RTT/2 + 2·jitter."""
    if not 0.0 <= sample.loss <= 1.0:
        raise ValueError(f"loss must be a fraction, got {sample.loss!r}")
    delay = (sample.rtt_ms or 0.0) / 2.0 + 2.0 * sample.jitter_ms
    return e_model_mos(delay, 100.0 * sample.loss)


class QualityScorer:
    """Turns network samples (or MOS values) into a smoothed score and a quality level."""

    def __init__(self, config: ScoreConfig | None = None) -> None:
        self.config = config or ScoreConfig()
        self._score: float | None = None
        self._last_ms: float | None = None
        self._quality: Quality | None = None

    @property
    def score(self) -> float | None:
        """The current smoothed score; ``None`` before the first sample."""
        return self._score

    def update(self, now_ms: float, sample: NetworkSample | None) -> ScoreUpdate:
        """Record ``sample`` at ``now_ms``; ``None`` means no media arrived (``LOST``)."""
        if sample is None:
            return self._apply(now_ms, None)
        return self._apply(now_ms, mos_of(sample))

    def update_mos(self, now_ms: float, mos: float) -> ScoreUpdate:
        """Record an instant MOS measured some other way (e.g. by the probe)."""
        return self._apply(now_ms, min(max(mos, MIN_SCORE), 4.5))

    def _apply(self, now_ms: float, target: float | None) -> ScoreUpdate:
        if self._last_ms is not None and now_ms < self._last_ms:
            raise ValueError(f"time went backwards: {now_ms} < {self._last_ms}")
        dt = 0.0 if self._last_ms is None else now_ms - self._last_ms
        self._last_ms = now_ms
        score = self._score
        if target is None:
            score, quality = MIN_SCORE, Quality.LOST
        else:
            if score is None:
                score = target
            else:
                tau = self.config.rise_tau_ms if target > score else self.config.fall_tau_ms
                score += (target - score) * (1.0 - math.exp(-dt / tau))
            quality = self._band(score)
        changed = self._quality is not None and quality is not self._quality
        self._score, self._quality = score, quality
        return ScoreUpdate(score, quality, changed)

    def _band(self, score: float) -> Quality:
        cfg = self.config
        if score >= cfg.excellent:
            return Quality.EXCELLENT
        if score >= cfg.good:
            return Quality.GOOD
        if score >= cfg.fair:
            return Quality.FAIR
        return Quality.POOR
