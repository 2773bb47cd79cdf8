"""Talk time without decoding: speaking spans from the RTP audio-level header extension.

RFC 6464 puts each audio packet's level in its header: 0..127, the level in -dBov (0 is
the loudest, 127 silence); aiortc parses it into `packet.extensions.audio_level` as
(voice_activity, level). A packet at or above the threshold (level <= `threshold`) is
voiced. A span starts at the first voiced packet and ends at the last voiced packet plus
one frame; a silence shorter than the hangover does not end it (the pauses between
words), a longer one does, closing the span at its last voiced frame, so the hangover
bridges pauses without adding time.

Sans-IO: time is passed in (the node's clock, seconds); no loop, no sockets. Per packet
work is a comparison and two float stores.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DEFAULT_THRESHOLD = 50  # -50 dBov: below speech at a microphone, above room noise
DEFAULT_HANGOVER_S = 0.5
FRAME_S = 0.02  # one Opus frame (the browsers' and aiortc's 20 ms)
MAX_PENDING = 10_000  # closed spans not yet taken; older ones are dropped (still counted)


@dataclass(frozen=True)
class TalkSpan:
    """A closed speaking span, on the clock the detector was fed with."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class TalkDetector:
    """One participant's speaking time from the levels of their audio packets."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD,
                 hangover_s: float = DEFAULT_HANGOVER_S, frame_s: float = FRAME_S) -> None:
        if not 0 <= threshold <= 127:
            raise ValueError("threshold is a level in -dBov, 0..127")
        if hangover_s < 0 or frame_s <= 0:
            raise ValueError("hangover_s >= 0 and frame_s > 0")
        self.threshold = threshold
        self.hangover_s = hangover_s
        self.frame_s = frame_s
        self.closed_s = 0.0  # total of the closed spans
        self.spans = 0
        self._start: float | None = None  # the open span
        self._last_voiced = 0.0
        self.pending: deque[TalkSpan] = deque(maxlen=MAX_PENDING)

    def on_level(self, level: int, now: float) -> None:
        """One packet's level (0..127, -dBov) arriving at `now`."""
        if level <= self.threshold:
            if self._start is not None and now - self._last_voiced > self.hangover_s:
                self._close()
            if self._start is None:
                self._start = now
            self._last_voiced = now
        elif self._start is not None and now - self._last_voiced > self.hangover_s:
            self._close()

    def poll(self, now: float) -> None:
        """Close the open span if the hangover has run out with no packet since (a mute
        stops packets; so does a link that went down)."""
        if self._start is not None and now - self._last_voiced > self.hangover_s:
            self._close()

    def stop(self) -> None:
        """No more packets from this source for now (mute, unpublish): close at once."""
        if self._start is not None:
            self._close()

    def talk_s(self, now: float) -> float:
        """Speaking time so far, the open span included (up to `now`)."""
        if self._start is None:
            return self.closed_s
        return self.closed_s + min(now, self._last_voiced + self.frame_s) - self._start

    def open_s(self, now: float, since: float) -> float:
        """The open span's length so far, counted from `since` at the earliest."""
        if self._start is None:
            return 0.0
        return max(0.0, min(now, self._last_voiced + self.frame_s) - max(self._start, since))

    def open_span(self, now: float) -> TalkSpan | None:
        """The span still open, as it stands at `now` (it stays open)."""
        if self._start is None:
            return None
        return TalkSpan(self._start, min(now, self._last_voiced + self.frame_s))

    @property
    def speaking(self) -> bool:
        return self._start is not None

    def take(self) -> list[TalkSpan]:
        """The spans closed since the last call (for the timeline)."""
        spans = list(self.pending)
        self.pending.clear()
        return spans

    def _close(self) -> None:
        assert self._start is not None
        span = TalkSpan(self._start, self._last_voiced + self.frame_s)
        self._start = None
        self.closed_s += span.duration
        self.spans += 1
        self.pending.append(span)


def share(talk: dict[str, float], who: set[str]) -> float | None:
    """The part of all talk time spoken by `who` (0..1), None if nobody spoke."""
    total = sum(talk.values())
    if total <= 0:
        return None
    return sum(s for p, s in talk.items() if p in who) / total
