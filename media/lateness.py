"""Old packets after a quiet spell (sans-IO: arrival times passed in).

When a publisher's link goes down, what its host sends meanwhile can wait in the kernel's
queue and arrive in a burst when the link is back (issue 17: a 5 s cut of a veth). Those
packets are seconds old, and by then the publisher is reconnecting on a new uplink: sent
on to subscribers, they spell frames the decoder cannot use just before the new uplink's
keyframe. `LateBurst` tells them apart from a publisher that simply resumes: after a quiet
spell, a packet is late if its RTP timestamp says it was sent much earlier than the time
that passed since the last packet before the spell. A resuming publisher stamps its new
packets with the current time, so they are on time.
"""

from __future__ import annotations

from .rtp import unwrap

__all__ = ["LateBurst"]


class LateBurst:
    """One source's packets: `late(timestamp, now)` is True for a packet to drop.

    Only packets after a spell of `quiet_s` without any are judged, only for `window_s`
    after the spell ends (a publisher whose timestamps lag its real time, a CPU-starved
    bot, loses at most that much), and a packet is late if it arrives more than `late_s`
    later than its timestamp says, counted from the last packet before the spell.
    """

    def __init__(
        self, clock_rate: int, quiet_s: float = 1.0, late_s: float = 1.0, window_s: float = 1.0
    ) -> None:
        self.clock_rate = clock_rate
        self.quiet_s, self.late_s, self.window_s = quiet_s, late_s, window_s
        self._ref_ts: int | None = None  # unwrapped timestamp of the last packet on time
        self._ref_at = 0.0
        self._judging_until: float | None = None  # after a quiet spell: judge until then
        self.dropped = 0

    def late(self, timestamp: int, now: float) -> bool:
        if self._ref_ts is None:
            self._accept(timestamp, now)
            return False
        if self._judging_until is None and now - self._ref_at >= self.quiet_s:
            self._judging_until = now + self.window_s
        if self._judging_until is not None:
            if now >= self._judging_until:
                self._judging_until = None
            else:
                ts = unwrap(timestamp, self._ref_ts, 32)
                lateness = (now - self._ref_at) - (ts - self._ref_ts) / self.clock_rate
                if lateness > self.late_s:
                    self.dropped += 1
                    return True
                self._judging_until = None  # on time: the source is back
        self._accept(timestamp, now)
        return False

    def _accept(self, timestamp: int, now: float) -> None:
        self._ref_ts = timestamp if self._ref_ts is None else unwrap(timestamp, self._ref_ts, 32)
        self._ref_at = now
