"""Audio-only fallback: stop a subscriber's video when its link cannot carry it, keep its
audio, try the video again later (sans-IO: time and rates passed in, changes returned).

Congestion control (`media/bandwidth.py`) first lowers the publisher to the slowest
subscriber's estimate. That is enough when the publisher's encoder can go that low
(Chrome's goes to ~30 kbit/s). When it cannot (aiortc's VP8 encoder stops at 250 kbit/s),
the subscriber's estimate stays well below the rate of the video forwarded to it, its queue
overflows and it loses audio with the video. Then, after `pause_after` seconds of that, its
video is paused: audio goes on, and the publisher is no longer held to that subscriber's
estimate (the others get full video again). The video is tried again, from a keyframe,
after `retry_after` seconds, twice as long after each try that fails (up to `max_retry`),
and back to `retry_after` once a try has lasted `settled_after` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Change", "FallbackPolicy", "VideoFallback"]


@dataclass(frozen=True)
class FallbackPolicy:
    ratio: float = 0.6
    """An estimate below this fraction of the forwarded video's rate cannot carry it."""
    pause_after: float = 4.0
    """Seconds the estimate must stay that low before the video is paused."""
    max_age: float = 5.0
    """An estimate older than this (seconds) says nothing."""
    retry_after: float = 10.0
    max_retry: float = 60.0
    settled_after: float = 30.0
    enabled: bool = True


DEFAULT_POLICY = FallbackPolicy()


class Change(Enum):
    PAUSE = "pause"
    RESUME = "resume"


class VideoFallback:
    """One subscriber's video of one publication."""

    def __init__(self, policy: FallbackPolicy | None = None) -> None:
        self.policy = policy = policy or DEFAULT_POLICY
        self.paused = False
        self.pauses = 0
        self.retry = policy.retry_after
        self._estimate: tuple[int, float] | None = None
        self._short_since: float | None = None
        self._paused_at = 0.0
        self._resumed_at: float | None = None

    def estimate(self, bitrate: int, now: float) -> None:
        """The subscriber's REMB (ignored while its video is paused)."""
        if not self.paused:
            self._estimate = (bitrate, now)

    def check(self, video_bps: float, now: float) -> Change | None:
        """Look again, given the rate (bit/s) of the video forwarded to this subscriber."""
        policy = self.policy
        if not policy.enabled:
            return None
        if self.paused:
            if now - self._paused_at < self.retry:
                return None
            self.paused = False
            self._resumed_at = now
            self._estimate = None
            self._short_since = None
            return Change.RESUME
        if self._resumed_at is not None and now - self._resumed_at >= policy.settled_after:
            self.retry = policy.retry_after
            self._resumed_at = None
        estimate = self._estimate
        short = (estimate is not None and now - estimate[1] <= policy.max_age
                 and video_bps > 0 and estimate[0] < policy.ratio * video_bps)
        if not short:
            self._short_since = None
            return None
        if self._short_since is None:
            self._short_since = now
        if now - self._short_since < policy.pause_after:
            return None
        if self._resumed_at is not None:  # the last try did not hold
            self.retry = min(policy.max_retry, self.retry * 2)
        self.paused = True
        self.pauses += 1
        self._paused_at = now
        self._short_since = None
        return Change.PAUSE
