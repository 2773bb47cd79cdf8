"""Counting what a receiver got, for loss after retransmission (pure).

aiortc's `inbound-rtp` stats count a packet recovered by retransmission on the RTX stream
and keep it lost on the original one, and NACKs may be repeated, so retransmissions cannot
be subtracted from `packetsLost`. The gate therefore counts the unique sequence numbers
that reach the receiver's jitter buffer (after RTX is unwrapped): what the receiver
finally got.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

__all__ = ["Deltas", "SequenceCounter"]

_HALF = 1 << 15
_REMEMBER = 4096
"""Sequence numbers this far behind the newest are no longer tracked (a later copy of one
of them is ignored rather than counted twice)."""


class SequenceCounter:
    """Unique RTP sequence numbers of one stream (16-bit, wrapping)."""

    def __init__(self) -> None:
        self._base: int | None = None
        self._max: int = 0  # extended sequence number
        self._seen: set[int] = set()
        self.received = 0
        """Unique packets received."""

    def _extend(self, seq: int) -> int:
        delta = (seq - self._max) & 0xFFFF
        return self._max + delta if delta < _HALF else self._max - ((self._max - seq) & 0xFFFF)

    def add(self, seq: int) -> None:
        if self._base is None:
            self._base = self._max = seq
            self._seen.add(seq)
            self.received = 1
            return
        ext = self._extend(seq)
        if ext < self._base or ext <= self._max - _REMEMBER or ext in self._seen:
            return
        self._seen.add(ext)
        self.received += 1
        if ext > self._max:
            self._max = ext
            if len(self._seen) > 2 * _REMEMBER:
                horizon = self._max - _REMEMBER
                self._seen = {s for s in self._seen if s > horizon}

    @property
    def expected(self) -> int:
        """Packets from the first to the newest sequence number seen."""
        return 0 if self._base is None else self._max - self._base + 1

    @property
    def lost(self) -> int:
        return self.expected - self.received


class Deltas:
    """Cumulative counters of several streams → what they added since the previous call.

    A stream seen for the first time counts from zero (it is new: a new SSRC or peer
    connection after a reconnect); a stream that went away adds nothing.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._last: dict[Hashable, tuple[int, ...]] = {}

    def update(self, values: Mapping[Hashable, tuple[int, ...]]) -> tuple[int, ...]:
        total = [0] * self.width
        for key, now in values.items():
            before = self._last.get(key, (0,) * self.width)
            for i in range(self.width):
                total[i] += now[i] - before[i]
            self._last[key] = tuple(now)
        return tuple(total)
