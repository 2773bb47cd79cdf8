"""Windowed statistics with time passed in: loss from cumulative counters, gauge series
(jitter, RTT), rates from cumulative counters (bitrate, frame rate), and percentiles.

Every method that looks at a window takes ``now_ms``; samples older than
``now_ms - window_ms`` are dropped. Time must not go backwards.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["LossWindow", "RateWindow", "Stats", "TimeSeries", "summarize"]


@dataclass(frozen=True)
class Stats:
    """Summary of a series: count, mean, extremes and percentiles (linear interpolation)."""

    count: int
    """Number of samples."""
    mean: float
    min: float
    p5: float
    """5th percentile: the bad tail of a higher-is-better figure (MOS, PSNR)."""
    p50: float
    """Median."""
    p95: float
    """95th percentile: the bad tail of a lower-is-better figure (RTT, jitter, latency)."""
    max: float


def summarize(values: Iterable[float]) -> Stats | None:
    """Summarize ``values``; ``None`` when there are none."""
    arr = np.fromiter(values, dtype=np.float64)
    if arr.size == 0:
        return None
    p5, p50, p95 = np.percentile(arr, [5.0, 50.0, 95.0])
    return Stats(
        count=int(arr.size),
        mean=float(arr.mean()),
        min=float(arr.min()),
        p5=float(p5),
        p50=float(p50),
        p95=float(p95),
        max=float(arr.max()),
    )


class _Window:
    """Samples ``(t_ms, *values)`` kept while ``t_ms > now_ms - window_ms``."""

    def __init__(self, window_ms: float) -> None:
        if window_ms <= 0:
            raise ValueError("window_ms must be positive")
        self.window_ms = window_ms
        self._last_ms: float | None = None
        self._samples: deque[tuple[float, float, float]] = deque()

    def _tick(self, now_ms: float) -> None:
        if self._last_ms is not None and now_ms < self._last_ms:
            raise ValueError(f"time went backwards: {now_ms} < {self._last_ms}")
        self._last_ms = now_ms
        self._prune(now_ms)

    def _prune(self, now_ms: float) -> None:
        horizon = now_ms - self.window_ms
        while self._samples and self._samples[0][0] <= horizon:
            self._samples.popleft()

    def _push(self, now_ms: float, a: float, b: float = 0.0) -> None:
        self._samples.append((now_ms, a, b))

    def _current(self, now_ms: float) -> list[tuple[float, float, float]]:
        self._tick(now_ms)
        return list(self._samples)

    def __len__(self) -> int:
        return len(self._samples)


class TimeSeries(_Window):
    """A gauge (jitter ms, RTT ms, ...) sampled over time; ``None`` samples are skipped."""

    def add(self, now_ms: float, value: float | None) -> None:
        """Record ``value`` at ``now_ms`` (``None``, e.g. RTT before the first RR, is ignored)."""
        self._tick(now_ms)
        if value is not None:
            self._push(now_ms, float(value))

    def values(self, now_ms: float) -> list[float]:
        """The samples inside the window ending at ``now_ms``."""
        return [s[1] for s in self._current(now_ms)]

    def stats(self, now_ms: float) -> Stats | None:
        """Summary of the window ending at ``now_ms``; ``None`` if it is empty."""
        return summarize(self.values(now_ms))


def _counter_delta(previous: float | None, value: float) -> float:
    """Increase of a cumulative counter; a decrease is a reset (new stream): count from 0."""
    if previous is None:
        return 0.0
    return value - previous if value >= previous else value


class LossWindow(_Window):
    """Packet loss over a sliding window from cumulative ``packetsLost``/``packetsReceived``.

    loss = Δlost / (Δlost + Δreceived). Feed it counters *after* retransmission (what the
    receiver finally got). The first sample is a baseline. A decrease of ``packetsReceived``
    means the counters were reset (a new SSRC or peer connection): the new values count from
    zero. ``packetsLost`` may shrink by itself (RFC 3550: duplicates), so a window's Δlost is
    clamped at zero.
    """

    def __init__(self, window_ms: float) -> None:
        super().__init__(window_ms)
        self._prev: tuple[float, float] | None = None
        self.total_lost = 0.0
        """Δlost summed over the whole session (not only the window)."""
        self.total_received = 0.0
        """Δreceived summed over the whole session."""
        self.resets = 0
        """How many counter resets were seen."""

    def add(self, now_ms: float, packets_lost: int, packets_received: int) -> None:
        """Record cumulative counters sampled at ``now_ms``."""
        self._tick(now_ms)
        if self._prev is None:
            self._prev = (packets_lost, packets_received)
            return
        prev_lost, prev_received = self._prev
        if packets_received < prev_received:
            self.resets += 1
            d_lost, d_received = float(max(packets_lost, 0)), float(packets_received)
        else:
            d_lost = float(packets_lost - prev_lost)
            d_received = float(packets_received - prev_received)
        self._prev = (packets_lost, packets_received)
        self.total_lost += d_lost
        self.total_received += d_received
        self._push(now_ms, d_lost, d_received)

    def loss(self, now_ms: float) -> float | None:
        """Fraction lost in the window ending at ``now_ms``; ``None`` if no packet was due."""
        samples = self._current(now_ms)
        return _ratio(sum(s[1] for s in samples), sum(s[2] for s in samples))

    def loss_total(self) -> float | None:
        """Fraction lost over the whole session; ``None`` if no packet was due."""
        return _ratio(self.total_lost, self.total_received)


def _ratio(lost: float, received: float) -> float | None:
    lost = max(lost, 0.0)
    if lost + received <= 0:
        return None
    return lost / (lost + received)


class RateWindow(_Window):
    """A cumulative counter (bytes, frames decoded) → a rate per second over a window.

    ``scale`` multiplies the counter (8 turns bytes into bits). Each sample after the first
    yields the rate since the previous one; ``stats`` summarizes those per-interval rates and
    ``rate`` is the mean rate over the window (Σdelta / Σinterval). Resets count from zero.
    """

    def __init__(self, window_ms: float, scale: float = 1.0) -> None:
        super().__init__(window_ms)
        self.scale = scale
        self._prev: tuple[float, float] | None = None

    def add(self, now_ms: float, cumulative: float) -> float | None:
        """Record the counter at ``now_ms``; returns the rate per second since the last sample."""
        self._tick(now_ms)
        prev = self._prev
        self._prev = (now_ms, cumulative)
        if prev is None or now_ms <= prev[0]:
            return None
        delta = _counter_delta(prev[1], cumulative) * self.scale
        interval = now_ms - prev[0]
        self._push(now_ms, delta, interval)
        return delta * 1000.0 / interval

    def rate(self, now_ms: float) -> float | None:
        """Mean rate per second in the window ending at ``now_ms``; ``None`` if empty."""
        samples = self._current(now_ms)
        span = sum(s[2] for s in samples)
        return sum(s[1] for s in samples) * 1000.0 / span if span > 0 else None

    def stats(self, now_ms: float) -> Stats | None:
        """Summary of the per-interval rates in the window ending at ``now_ms``."""
        return summarize(s[1] * 1000.0 / s[2] for s in self._current(now_ms))
