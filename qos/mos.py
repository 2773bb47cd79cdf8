"""Voice quality: the E-model (ITU-T G.107, reduced form) and the effective-latency form.

E-model, as docs/quality.md states it:

- R = 93.2 - Id - Ie,eff
- Id = 0.024·Ta + 0.11·(Ta - 177.3)·H(Ta - 177.3), Ta the one-way mouth-to-ear delay in ms
- Ie,eff = Ie + (95 - Ie)·Ppl / (Ppl/BurstR + Bpl), Ppl the loss in percent
- MOS = 1 (R < 0); 1 + 0.035R + 7·10⁻⁶·R(R - 60)(100 - R) (0 ≤ R ≤ 100); 4.5 (R > 100)

G.113 has no Ie/Bpl for Opus. We take Ie = 0 and Bpl = 25: G.113 Appendix I gives G.711
with packet-loss concealment Ie = 0, Bpl = 25.1, and Opus conceals at least as well. Both
are parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "DEFAULT_BPL",
    "DEFAULT_IE",
    "R_DEFAULT",
    "burst_ratio",
    "burst_ratio_of",
    "delay_impairment",
    "e_model_mos",
    "e_model_r",
    "effective_latency_mos",
    "effective_latency_r",
    "loss_impairment",
    "mos_from_r",
]

R_DEFAULT = 93.2
"""R with no impairment (G.107 default values of all other parameters)."""
DEFAULT_IE = 0.0
"""Equipment impairment of Opus at our bitrates: 0 (not in G.113; see the module doc)."""
DEFAULT_BPL = 25.0
"""Packet-loss robustness of Opus: 25 (G.113 App. I, G.711 + PLC: 25.1; see the module doc)."""
_ID_KNEE_MS = 177.3


def _check_percent(loss_percent: float) -> None:
    if not 0.0 <= loss_percent <= 100.0:
        raise ValueError(f"loss must be 0..100 %, got {loss_percent!r}")


def delay_impairment(one_way_ms: float) -> float:
    """Id for a one-way mouth-to-ear delay ``one_way_ms`` (Ta)."""
    if one_way_ms < 0 or not math.isfinite(one_way_ms):
        raise ValueError(f"bad delay {one_way_ms!r}")
    knee = 0.11 * (one_way_ms - _ID_KNEE_MS) if one_way_ms > _ID_KNEE_MS else 0.0
    return 0.024 * one_way_ms + knee


def loss_impairment(
    loss_percent: float,
    *,
    ie: float = DEFAULT_IE,
    bpl: float = DEFAULT_BPL,
    burst_r: float = 1.0,
) -> float:
    """Ie,eff for ``loss_percent`` (Ppl) lost packets; ``burst_r`` = 1 for random loss."""
    _check_percent(loss_percent)
    if bpl <= 0 or burst_r <= 0:
        raise ValueError("bpl and burst_r must be positive")
    return ie + (95.0 - ie) * loss_percent / (loss_percent / burst_r + bpl)


def burst_ratio(loss_fraction: float, mean_burst_length: float) -> float:
    """BurstR = mean observed burst length / mean burst length under random loss.

    Under random loss with probability p a burst lasts 1/(1 - p) packets on average, so
    BurstR = mean_burst_length·(1 - p). For a 2-state Markov (Gilbert) model with
    p = P(lost | received) and q = P(received | lost) this equals G.107's 1/(p + q).
    """
    if not 0.0 <= loss_fraction < 1.0:
        raise ValueError("loss_fraction must be in [0, 1)")
    if mean_burst_length < 1.0:
        raise ValueError("a burst is at least one packet long")
    return mean_burst_length * (1.0 - loss_fraction)


def burst_ratio_of(lost: Sequence[bool]) -> float:
    """BurstR of an observed loss pattern (True = lost); 1 if nothing or everything was lost."""
    n_lost = sum(1 for x in lost if x)
    if n_lost == 0 or n_lost == len(lost):
        return 1.0
    bursts = sum(1 for i, x in enumerate(lost) if x and (i == 0 or not lost[i - 1]))
    return burst_ratio(n_lost / len(lost), n_lost / bursts)


def e_model_r(
    one_way_ms: float,
    loss_percent: float,
    *,
    ie: float = DEFAULT_IE,
    bpl: float = DEFAULT_BPL,
    burst_r: float = 1.0,
) -> float:
    """R = 93.2 - Id - Ie,eff."""
    ie_eff = loss_impairment(loss_percent, ie=ie, bpl=bpl, burst_r=burst_r)
    return R_DEFAULT - delay_impairment(one_way_ms) - ie_eff


def mos_from_r(r: float) -> float:
    """MOS (conversational quality, 1..4.5) from R (G.107 Annex B)."""
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def e_model_mos(
    one_way_ms: float,
    loss_percent: float,
    *,
    ie: float = DEFAULT_IE,
    bpl: float = DEFAULT_BPL,
    burst_r: float = 1.0,
) -> float:
    """MOS from the E-model for a one-way delay and a loss percentage."""
    return mos_from_r(e_model_r(one_way_ms, loss_percent, ie=ie, bpl=bpl, burst_r=burst_r))


def effective_latency_r(latency_ms: float, jitter_ms: float, loss_percent: float) -> float:
    """The simpler form many tools use: EL = latency + 2·jitter + 10;
    R = 93.2 - EL/40 (EL < 160) else 93.2 - (EL - 120)/10; then R -= 2.5·loss%.
    """
    _check_percent(loss_percent)
    if latency_ms < 0 or jitter_ms < 0:
        raise ValueError("latency and jitter must not be negative")
    el = latency_ms + 2.0 * jitter_ms + 10.0
    r = R_DEFAULT - el / 40.0 if el < 160.0 else R_DEFAULT - (el - 120.0) / 10.0
    return r - 2.5 * loss_percent


def effective_latency_mos(latency_ms: float, jitter_ms: float, loss_percent: float) -> float:
    """MOS from :func:`effective_latency_r`."""
    return mos_from_r(effective_latency_r(latency_ms, jitter_ms, loss_percent))
