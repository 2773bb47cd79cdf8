"""What an overloaded node stops forwarding first (sans-IO, time passed in).

Past saturation every packet forwarded costs the same, and the node cannot send them all;
rather than letting the kernel drop at random (the tutor's video and everyone's audio
with the rest), it sheds in the order a lesson can bear:

- level 1: learners' videos to other learners;
- level 2: learners' videos to everyone (the tutor too);
- never: the tutor's video, and any audio.

Without simulcast or temporal layers a VP8 stream cannot be thinned without breaking its
decoding, so a shed video is paused for that subscriber and resumed from a keyframe.
`LoadShedding` moves one level at a time: up while the node stays overloaded for
`step_s` after the last change, down once it has been admitting for `2 * step_s` (so a
level that just relieved the node is not dropped at once, which would overload it again).
"""

from __future__ import annotations

__all__ = ["MAX_LEVEL", "LoadShedding", "sheds"]

MAX_LEVEL = 2


def sheds(level: int, publisher_is_tutor: bool, subscriber_is_tutor: bool) -> bool:
    """Whether a video from this publisher to this subscriber is shed at `level`."""
    if publisher_is_tutor or level <= 0:
        return False
    return level >= 2 or not subscriber_is_tutor


class LoadShedding:
    """The shedding level, from whether the node is overloaded over time."""

    def __init__(self, step_s: float = 5.0) -> None:
        self.step_s = step_s
        self.level = 0
        self._changed_at: float | None = None
        self._calm_since: float | None = None

    def update(self, now: float, overloaded: bool) -> int | None:
        """The node's state at `now`; returns the new level if it changed."""
        since_change = None if self._changed_at is None else now - self._changed_at
        if overloaded:
            self._calm_since = None
            if self.level < MAX_LEVEL and (since_change is None or since_change >= self.step_s):
                return self._set(self.level + 1, now)
            return None
        if self._calm_since is None:
            self._calm_since = now
        calm = now - self._calm_since
        if self.level > 0 and calm >= 2 * self.step_s and (
            since_change is None or since_change >= 2 * self.step_s
        ):
            return self._set(self.level - 1, now)
        return None

    def _set(self, level: int, now: float) -> int:
        self.level = level
        self._changed_at = now
        return level
