"""Admission control: a node under sustained load refuses new participants and rooms.

Accepting one more participant on a node whose event loop is already behind makes every
lesson on it worse (issue 16: past saturation the publisher's packets were dropped and the
lesson was lost). `Admission` (sans-IO, time passed in) is fed by the node's tick with the
event loop's lag and the process's CPU (cores); when either averages over its limit for
`window_s`, the node is overloaded: `Node.hub_for_join` and `Node.create_room` refuse with
`node_overloaded` (retry advice: `retry_after_s`), participants already seated (and
reconnecting to their held seat) are not affected. The refusal ends as soon as the average
over the window is back under the limits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .errors import SignalCode, SignalError
from .protocol import CloseCode

__all__ = ["CLOSE_NODE_OVERLOADED", "Admission", "AdmissionLimits", "NodeOverloaded"]

CLOSE_NODE_OVERLOADED = CloseCode.NODE_OVERLOADED
"""WebSocket close code after a `join` refused with `node_overloaded` (HTTP 503's cousin)."""


class NodeOverloaded(SignalError):
    """A join or room refused because the node is overloaded; try later or elsewhere."""

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(
            SignalCode.NODE_OVERLOADED,
            f"node overloaded ({reason}); retry in {retry_after_s:g} s or on another node",
        )
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    max_loop_lag_s: float = 0.1
    """Mean event-loop lag over the window above which the node is overloaded (0: off)."""
    max_cpu_cores: float = 0.85
    """Mean process CPU (cores) over the window above which it is overloaded (0: off). The
    node's media plane runs on one thread: near one core it is saturated."""
    window_s: float = 5.0
    """How long the load must last (and what the means are taken over)."""


class Admission:
    """Whether the node admits new participants and rooms, from its recent load."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self.overloaded = False
        self.reason: str | None = None
        self.mean_lag_s = 0.0
        self.mean_cpu_cores = 0.0
        self._samples: deque[tuple[float, float, float]] = deque()
        self._since: float | None = None  # first observation
        self.refusals = 0

    @property
    def retry_after_s(self) -> float:
        return self.limits.window_s

    def observe(self, now: float, lag_s: float, cpu_cores: float) -> bool | None:
        """One tick's figures; returns the new state if it changed, else None."""
        window = self.limits.window_s
        if self._since is None:
            self._since = now
        samples = self._samples
        samples.append((now, lag_s, cpu_cores))
        while samples and samples[0][0] < now - window:
            samples.popleft()
        count = len(samples)
        self.mean_lag_s = sum(s[1] for s in samples) / count
        self.mean_cpu_cores = sum(s[2] for s in samples) / count
        reason = None
        if now - self._since >= window:  # a whole window measured: sustained, not a spike
            lag_limit, cpu_limit = self.limits.max_loop_lag_s, self.limits.max_cpu_cores
            if lag_limit > 0 and self.mean_lag_s > lag_limit:
                reason = f"event-loop lag {self.mean_lag_s:.3f} s > {lag_limit:g} s"
            elif cpu_limit > 0 and self.mean_cpu_cores > cpu_limit:
                reason = f"CPU {self.mean_cpu_cores:.2f} cores > {cpu_limit:g}"
        self.reason = reason
        overloaded = reason is not None
        if overloaded == self.overloaded:
            return None
        self.overloaded = overloaded
        return overloaded

    def check(self) -> None:
        """Raise `NodeOverloaded` if the node is not admitting."""
        if self.overloaded:
            self.refusals += 1
            raise NodeOverloaded(self.reason or "overloaded", self.retry_after_s)
