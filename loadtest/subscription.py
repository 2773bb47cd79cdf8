"""What one classroom bot receives on one subscription, counted from RTP headers (no decoding).

`SubscriptionCounter` extends the benchmark's `PacketCounter` (loadtest/counting.py) with what
a lesson's quality needs, still per datagram and cheap: the arrival of the first video frame
(a marker bit), freezes between video frames (`qos.freeze`, Chrome's definition, with the
arrival of a frame's last packet standing in for its render time), and RFC 3550 interarrival
jitter on audio. `QualityWindow` turns two looks at the counters into a window's figures:
loss, jitter, freezes and an effective-latency MOS (`qos.mos`; latency not measured, taken
as 0, so the MOS says what loss and jitter cost). Times are passed in (seconds).
"""

from __future__ import annotations

import builtins
import struct
import time
from dataclasses import dataclass, field

from qos.freeze import FreezeDetector, StallKind
from qos.mos import effective_latency_mos

from .counting import PacketCounter

_TIMESTAMP = struct.Struct("!I")
AUDIO_CLOCK = 48000


@dataclass(slots=True)
class SubscriptionCounter(PacketCounter):
    """A `PacketCounter` that also notes the first frame, freezes and audio jitter."""

    first_frame_at: float | None = None
    """Monotonic time of the first video frame (or first audio packet on an audio-only one)."""
    freezes: FreezeDetector = field(default_factory=FreezeDetector)
    jitter: float = 0.0  # RFC 3550 J, in audio clock units
    _last_audio: tuple[float, int] | None = None  # (arrival s, RTP timestamp)

    def on_datagram(self, data: builtins.bytes) -> None:
        PacketCounter.on_datagram(self, data)
        second = data[1]
        kind, rtx = self.kinds.get(second & 0x7F, ("", False))
        if rtx or not kind:
            return
        now = time.monotonic()
        if kind == "video":
            if second & 0x80:
                if self.first_frame_at is None:
                    self.first_frame_at = now
                self.freezes.on_frame(now * 1000.0)
            return
        if kind != "audio":
            return
        if self.first_frame_at is None and not self.has_video:
            self.first_frame_at = now
        (ts,) = _TIMESTAMP.unpack_from(data, 4)
        last = self._last_audio
        self._last_audio = (now, ts)
        if last is not None:
            d = (now - last[0]) * AUDIO_CLOCK - ((ts - last[1]) & 0xFFFFFFFF)
            if d > 1 << 31:
                d -= 1 << 32
            self.jitter += (abs(d) - self.jitter) / 16.0

    @property
    def has_video(self) -> bool:
        return any(kind == "video" and not rtx for kind, rtx in self.kinds.values())

    def expected(self) -> int:
        return sum(s.highest - s.base + 1 for s in self.streams.values())

    def received(self) -> int:
        return sum(s.received for s in self.streams.values())


@dataclass(frozen=True)
class Quality:
    """One window of one subscription (or a seat's subscriptions together)."""

    loss_percent: float
    jitter_ms: float
    freezes: int
    mos: float


class QualityWindow:
    """Figures of the packets since the last `take()`."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, int, int]] = {}  # id(counter) -> expected, got, freezes

    def take(self, counters: list[SubscriptionCounter]) -> Quality | None:
        expected = received = freezes = 0
        jitters: list[float] = []
        seen: dict[int, tuple[int, int, int]] = {}
        for counter in counters:
            stalls = counter.freezes.stalls
            now = (counter.expected(), counter.received(),
                   sum(1 for s in stalls if s.kind is StallKind.FREEZE))
            before = self._seen.get(id(counter), (0, 0, 0))
            seen[id(counter)] = now
            expected += now[0] - before[0]
            received += now[1] - before[1]
            freezes += now[2] - before[2]
            if counter._last_audio is not None:
                jitters.append(counter.jitter / AUDIO_CLOCK * 1000.0)
        self._seen = seen
        if expected <= 0:
            return None
        loss = 100.0 * max(0, expected - received) / expected
        jitter = max(jitters, default=0.0)
        return Quality(round(loss, 3), round(jitter, 2), freezes,
                       round(effective_latency_mos(0.0, jitter, min(loss, 100.0)), 2))
