"""A per-socket request rate limit: a token bucket that may run into debt (sans-IO)."""

from __future__ import annotations

from enum import Enum


class Admission(Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"  # answer `rate_limited`, the socket stays open
    CLOSE = "close"  # the socket kept sending far past its limit: close it (4029)


class TokenBucket:
    """Holds up to `burst` requests, refilled at `rate` a second. A request that finds no
    token is refused and still counts, so the bucket goes into debt; `burst` requests of
    debt close the socket. A client that slows down to `rate` after a refusal recovers; one
    that keeps flooding is closed at its `burst`-th refused request."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self._last = now

    def take(self, now: float) -> Admission:
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.tokens -= 1.0
        if self.tokens >= 0.0:
            return Admission.ACCEPT
        if self.tokens <= -self.burst:
            return Admission.CLOSE
        return Admission.REFUSE
