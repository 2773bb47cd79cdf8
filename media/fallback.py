"""Audio-only fallback: stop videos to a subscriber whose link cannot carry them, keep its
audio, try the videos again later (sans-IO: time and rates passed in, changes returned).

Congestion control (`media/bandwidth.py`) first lowers each publisher to its slowest
subscriber's estimate. That is not enough when a publisher's encoder cannot go that low
(aiortc's VP8 encoder stops at 250 kbit/s; a bot's pre-encoded clip does not adapt at all),
or when several videos share one subscriber's link: each video reaches the subscriber on
its own peer connection, so each estimate covers one stream, and together they can ask for
more than the link has. The subscriber's queue then overflows and it loses audio with the
video.

`VideoBudget` looks at one subscriber's videos together: when the sum of its estimates stays
below `ratio` x the sum of the rates forwarded to it for `pause_after` seconds, videos are
paused until the rest fit in what the estimates add up to: learners' before the tutor's,
the largest first, at least one. Audio goes on, and the publishers are no longer held to
that subscriber's estimate. A paused video is tried again, from a keyframe, after
`retry_after` seconds, twice as long after each try that fails (up to `max_retry`), and
back to `retry_after` once a try has lasted `settled_after` seconds; one try at a time
(`retry_spacing`), the tutor's first.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = ["Change", "FallbackPolicy", "StreamView", "VideoBudget", "VideoFallback"]


@dataclass(frozen=True)
class FallbackPolicy:
    ratio: float = 0.8
    """Estimates summing to less than this fraction of the forwarded rates: over-full."""
    pause_after: float = 4.0
    """Seconds the link must stay over-full before a video is paused."""
    max_age: float = 5.0
    """An estimate older than this (seconds) says nothing."""
    retry_after: float = 10.0
    max_retry: float = 60.0
    settled_after: float = 30.0
    retry_spacing: float = 6.0
    """At most one paused video is tried again in this many seconds."""
    enabled: bool = True


DEFAULT_POLICY = FallbackPolicy()


class Change(Enum):
    PAUSE = "pause"
    RESUME = "resume"


class VideoFallback:
    """The state of one video sent to one subscriber: its estimate, paused or not, when
    to try again."""

    def __init__(self, policy: FallbackPolicy | None = None) -> None:
        self.policy = policy = policy or DEFAULT_POLICY
        self.paused = False
        self.pauses = 0
        self.retry = policy.retry_after
        self.paused_at = 0.0
        self._estimate: tuple[int, float] | None = None
        self._resumed_at: float | None = None

    def estimate(self, bitrate: int, now: float) -> None:
        """The subscriber's REMB (ignored while the video is paused)."""
        if not self.paused:
            self._estimate = (bitrate, now)

    def fresh_estimate(self, now: float) -> int | None:
        if self._estimate is None or now - self._estimate[1] > self.policy.max_age:
            return None
        return self._estimate[0]

    def due(self, now: float) -> bool:
        """Paused, and time to try again."""
        return self.paused and now - self.paused_at >= self.retry

    def pause(self, now: float) -> None:
        if self._resumed_at is not None:  # the last try did not hold
            self.retry = min(self.policy.max_retry, self.retry * 2)
        self.paused = True
        self.pauses += 1
        self.paused_at = now

    def resume(self, now: float) -> None:
        self.paused = False
        self._resumed_at = now
        self._estimate = None

    def settle(self, now: float) -> None:
        """Running and fine: a try that has lasted `settled_after` resets the wait."""
        if self._resumed_at is not None and now - self._resumed_at >= self.policy.settled_after:
            self.retry = self.policy.retry_after
            self._resumed_at = None


@dataclass(frozen=True)
class StreamView:
    """One video sent to the subscriber, as the budget sees it."""

    key: Hashable
    tutor: bool
    rate_bps: float
    """What is forwarded now (0 while the publisher is muted)."""
    state: VideoFallback


class VideoBudget:
    """One subscriber's videos: which to pause, which to try again."""

    def __init__(self, policy: FallbackPolicy | None = None) -> None:
        self.policy = policy or DEFAULT_POLICY
        self._over_since: float | None = None
        self._last_resume = -math.inf

    def check(self, streams: Sequence[StreamView], now: float) -> list[tuple[Hashable, Change]]:
        policy = self.policy
        if not policy.enabled:
            return []
        due = [s for s in streams if s.state.due(now)]
        if due and now - self._last_resume >= policy.retry_spacing:
            stream = min(due, key=lambda s: (not s.tutor, s.rate_bps))  # one try at a time
            stream.state.resume(now)
            self._last_resume = now
            self._over_since = None
            return [(stream.key, Change.RESUME)]
        active = [s for s in streams if not s.state.paused and s.rate_bps > 0]
        estimates = [s.state.fresh_estimate(now) for s in active]
        demand = sum(s.rate_bps for s in active)
        known = [e for e in estimates if e is not None]
        if not active or len(known) < len(active) or sum(known) >= policy.ratio * demand:
            self._over_since = None
            for stream in streams:
                if not stream.state.paused:
                    stream.state.settle(now)
            return []
        if self._over_since is None:
            self._over_since = now
        if now - self._over_since < policy.pause_after:
            return []
        # pause as many as it takes for the rest to fit in what the estimates add up to:
        # learners' videos before the tutor's, the largest first; at least one
        capacity = sum(known)
        paused: list[StreamView] = []
        for victim in sorted(active, key=lambda s: (s.tutor, -s.rate_bps)):
            if paused and demand <= capacity:
                break
            victim.state.pause(now)
            paused.append(victim)
            demand -= victim.rate_bps
        self._over_since = None
        return [(s.key, Change.PAUSE) for s in paused]
