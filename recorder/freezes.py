"""Freezes of a recorded video as the node received it (pure: RTP timestamps and arrival
times in, freezes out).

A frame arrives with the first packet of a new RTP timestamp; the arrival times go into
`qos.freeze.FreezeDetector` (the W3C / Chrome definition: an interval of at least
max(3 x average, average + 150 ms)). Packets of an older frame (reordered, retransmitted)
are not frames. A gap longer than 5 s is a pause, not a freeze; a mute, a re-publish or
a detach starts afresh (`reset`), so a short mute is not a freeze either. This is the
upstream side only: what the publisher's network and the node did to the frames, which
is what every subscriber and the recording got.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.rtp import ts_diff
from qos.freeze import FreezeDetector, StallKind


@dataclass(frozen=True)
class Freeze:
    start: float  # arrival of the frame before the gap (s, the caller's clock)
    end: float  # arrival of the frame after it


class FrameArrivals:
    def __init__(self) -> None:
        self._detector = FreezeDetector()
        self._timestamp: int | None = None

    def reset(self) -> None:
        self._detector = FreezeDetector()
        self._timestamp = None

    def on_packet(self, timestamp: int, now: float) -> Freeze | None:
        """A video packet with RTP `timestamp` arrived at `now` (s); the freeze it ended."""
        last = self._timestamp
        if last is not None and ts_diff(timestamp, last) <= 0:
            return None  # the same frame, or an older one
        self._timestamp = timestamp
        stall = self._detector.on_frame(now * 1000.0)
        if stall is None or stall.kind is not StallKind.FREEZE:
            return None
        return Freeze(stall.start_ms / 1000.0, (stall.start_ms + stall.duration_ms) / 1000.0)
