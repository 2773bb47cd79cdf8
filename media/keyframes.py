"""Keyframe-request throttling (sans-IO)."""

from __future__ import annotations


class KeyframeThrottle:
    """Lets a keyframe request through at most once per `interval` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True
