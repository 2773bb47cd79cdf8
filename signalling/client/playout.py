"""A browser-like receive pipeline for the Python client (sans-IO core: time passed in).

aiortc's own receiver is not what a learner's browser does, and the release gate measures
through it. aiortc hands a video frame to the decoder only when every packet before it has
arrived (a lost retransmission blocks the picture until 512 packets queue up, then the
frames after the hole are decoded against missing references: corrupt pictures), it NACKs a
lost packet once, and audio waits behind a missing packet until 16 packets queue up.

This core models Chrome's receiver instead (the aiortc adapter is ``reception.py`` here):

- **NACK** (Chrome's NackRequester): every missing packet is NACKed at once and again each
  round trip (measured from a NACK to the retransmission it brought), at most 10 times.
- **Decodability** (Chrome's frame buffer): a frame is decoded only when it is complete and
  every packet before it was received or the frames before it were given up. After a gap
  that cannot be repaired (10 NACKs or 1 s), delta frames are dropped until a complete
  keyframe arrives; a keyframe is requested (PLI) at once and every 0.5 s until then.
  A complete keyframe past a gap is decoded at once.
- **Playout** (Chrome's timing): a frame goes to the decoder at ``base + ts/clock + delay``.
  ``base`` is the smallest transit offset (arrival - ts/clock) of the last 10 s; ``delay`` is
  the 95th percentile of how late the last 128 frames became decodable (jitter, and frames
  repaired by a retransmission or waiting behind one), plus one round trip when NACKs are
  in use (Chrome adds the RTT too), so a frame whose retransmission was lost as well still
  plays on time: at 5% loss that is what keeps the picture from freezing. The audio and
  video of one publisher share the larger delay (lip sync without RTCP: both streams'
  timestamps follow the same capture clock).
- **Audio** (NetEq, without its time stretching): packets play in order at their playout
  time; a packet still missing then is skipped (the decoder's gap is the concealment).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from media.rtp import unwrap

__all__ = [
    "AudioAssembler",
    "InPacket",
    "OutFrame",
    "Playout",
    "SyncGroup",
    "VideoAssembler",
]

MAX_NACK_RETRIES = 10
GIVE_UP_S = 1.0
PLI_INTERVAL_S = 0.5
MAX_SPAN = 3000
"""Packets between the oldest kept and the newest: beyond that the receiver starts over."""
BASE_WINDOW_S = 10.0
DELAY_SAMPLES = 128
MAX_DELAY_S = 1.0
DELAY_DECAY_S = 0.001
"""How much the playout delay may shrink per frame (it grows at once). Faster (0.1 s per
second, as Chrome's timing allows) let the A/V offset under 5% loss reach 250 ms in the
gate (P2), so the delay stays up for longer after late frames."""


@dataclass(slots=True)
class InPacket:
    """One RTP packet after RTX unwrapping and depayloading."""

    seq: int
    timestamp: int
    marker: bool
    data: bytes
    frame_start: bool = True
    keyframe: bool = False


@dataclass(slots=True)
class OutFrame:
    """An encoded frame for the decoder, due at ``due`` (seconds, the caller's clock)."""

    timestamp: int
    data: bytes
    keyframe: bool
    due: float


@dataclass(slots=True)
class Actions:
    """What the adapter must do now."""

    nack: list[int] = field(default_factory=list)
    pli: bool = False
    frames: list[OutFrame] = field(default_factory=list)


class SyncGroup:
    """The streams of one publisher: they play with the largest delay any of them needs."""

    def __init__(self) -> None:
        self.members: list[Playout] = []

    @property
    def delay(self) -> float:
        return max((m.own_delay for m in self.members), default=0.0)


class Playout:
    """When each frame of one stream is due (see the module docstring)."""

    def __init__(self, clock_rate: int, sync: SyncGroup | None = None,
                 min_delay: float = 0.01) -> None:
        self.clock_rate = clock_rate
        self.min_delay = min_delay
        self.sync = sync or SyncGroup()
        self.sync.members.append(self)
        self.round_trip = 0.0  # set by a NACKing assembler
        self.own_delay = min_delay
        self._ts_ref: int | None = None
        self._offsets: deque[tuple[float, float]] = deque()  # (arrival, offset), rising
        self._lateness: deque[float] = deque(maxlen=DELAY_SAMPLES)
        self._last_due = -math.inf

    def _seconds(self, timestamp: int) -> float:
        if self._ts_ref is None:
            self._ts_ref = timestamp
        self._ts_ref = unwrap(timestamp, self._ts_ref, 32)
        return self._ts_ref / self.clock_rate

    @property
    def base(self) -> float | None:
        return self._offsets[0][1] if self._offsets else None

    def on_arrival(self, timestamp: int, now: float) -> None:
        """A packet that was not retransmitted arrived (feeds the transit minimum)."""
        offset = now - self._seconds(timestamp)
        while self._offsets and self._offsets[-1][1] >= offset:
            self._offsets.pop()
        self._offsets.append((now, offset))
        while self._offsets[0][0] < now - BASE_WINDOW_S:
            self._offsets.popleft()

    def schedule(self, timestamp: int, now: float) -> float:
        """The playout time of a frame that became decodable at ``now``."""
        base = self.base
        media = self._seconds(timestamp)
        if base is None:
            base = now - media
        self._lateness.append(now - (base + media))
        ordered = sorted(self._lateness)
        late = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        wanted = min(MAX_DELAY_S, self.min_delay + max(0.0, late) + self.round_trip)
        if wanted >= self.own_delay:
            self.own_delay = wanted
        else:
            self.own_delay = max(wanted, self.own_delay - DELAY_DECAY_S)
        due = max(base + media + self.sync.delay, self._last_due)
        self._last_due = due
        return due


@dataclass(slots=True)
class _Missing:
    first_at: float
    sent_at: float | None = None
    retries: int = 0


@dataclass(slots=True)
class _Stored:
    packet: InPacket
    arrival: float


class VideoAssembler:
    """Packets in, NACKs, keyframe requests and decodable frames (at their time) out."""

    def __init__(self, playout: Playout) -> None:
        self.playout = playout
        self.round_trip: float | None = None  # measured NACK -> retransmission
        self.need_keyframe = True
        self.frames_dropped = 0
        self.gaps_given_up = 0
        self._packets: dict[int, _Stored] = {}
        self._missing: dict[int, _Missing] = {}
        self._highest: int | None = None
        self._next = 0
        self._last_pli = -math.inf
        self._ready: deque[OutFrame] = deque()
        self._nacking = False

    # --- input ---------------------------------------------------------------------------

    def on_packet(self, packet: InPacket, now: float) -> None:
        if self._highest is None:
            self._highest = self._next = packet.seq
        seq = unwrap(packet.seq, self._highest, 16)
        if seq < self._next or seq in self._packets:
            return  # too late, or a duplicate
        missing = self._missing.pop(seq, None)
        if missing is not None and missing.retries == 1 and missing.sent_at is not None:
            sample = now - missing.sent_at
            self.round_trip = sample if self.round_trip is None else (
                0.8 * self.round_trip + 0.2 * sample)
        if seq > self._highest:
            if seq - self._next > MAX_SPAN:
                self._start_over(seq)
            for lost in range(self._highest + 1, seq):
                self._missing[lost] = _Missing(now)
            self._highest = seq
        if missing is None:
            self.playout.on_arrival(packet.timestamp, now)
        self._packets[seq] = _Stored(packet, now)

    def _start_over(self, seq: int) -> None:
        self._packets.clear()
        self._missing.clear()
        self._highest = self._next = seq
        self.need_keyframe = True

    # --- output --------------------------------------------------------------------------

    def poll(self, now: float) -> Actions:
        actions = Actions()
        actions.nack = self._nacks(now)
        self._give_up(now)
        if self.need_keyframe:
            self._seek_keyframe(now)
        self._assemble(now)
        if self.need_keyframe and now - self._last_pli >= PLI_INTERVAL_S:
            self._last_pli = now
            actions.pli = True
        while self._ready and self._ready[0].due <= now:
            actions.frames.append(self._ready.popleft())
        return actions

    @property
    def next_due(self) -> float | None:
        return self._ready[0].due if self._ready else None

    def _interval(self) -> float:
        return max(0.02, 1.2 * (self.round_trip or 0.1))

    def _nacks(self, now: float) -> list[int]:
        due = []
        for seq, missing in self._missing.items():
            if missing.retries >= MAX_NACK_RETRIES:
                continue
            if missing.sent_at is None or now - missing.sent_at >= self._interval():
                missing.sent_at = now
                missing.retries += 1
                due.append(seq & 0xFFFF)
        self._nacking = self._nacking or bool(due)
        self.playout.round_trip = (self.round_trip or 0.0) if self._nacking else 0.0
        return due

    def _give_up(self, now: float) -> None:
        """Skip the oldest hole when NACKs cannot fill it any more: the frame it is in is
        dropped, and the frames after it wait for a keyframe."""
        if not self._missing:
            return
        gap = min(self._missing)
        missing = self._missing[gap]
        exhausted = (missing.retries >= MAX_NACK_RETRIES and missing.sent_at is not None
                     and now - missing.sent_at >= self._interval())
        if not exhausted and now - missing.first_at < GIVE_UP_S:
            return
        starts = [seq for seq, s in self._packets.items() if seq > gap and s.packet.frame_start]
        self._drop_before(min(starts) if starts else self._highest_plus_one())
        self.need_keyframe = True
        self.gaps_given_up += 1

    def _highest_plus_one(self) -> int:
        assert self._highest is not None
        return self._highest + 1

    def _drop_before(self, seq: int) -> None:
        for old in [s for s in self._packets if s < seq]:
            del self._packets[old]
        for old in [s for s in self._missing if s < seq]:
            del self._missing[old]
        self._next = max(self._next, seq)

    def _seek_keyframe(self, now: float) -> None:
        starts = [seq for seq, s in self._packets.items()
                  if s.packet.keyframe and s.packet.frame_start]
        if starts:
            self._drop_before(min(starts))
            return
        # No keyframe yet: keep what may still turn into one (its first packet may be on
        # its way again), but not for longer than GIVE_UP_S.
        stale = [seq for seq, s in self._packets.items() if s.arrival < now - GIVE_UP_S]
        stale += [seq for seq, m in self._missing.items() if m.first_at < now - GIVE_UP_S]
        if stale:
            self._drop_before(max(stale) + 1)

    def _assemble(self, now: float) -> None:
        while True:
            first = self._packets.get(self._next)
            if first is None:
                return
            if not first.packet.frame_start:  # the rest of a frame whose start was given up
                del self._packets[self._next]
                self._next += 1
                self.need_keyframe = True
                continue
            parts = [first]
            end = self._next
            while not parts[-1].packet.marker:
                following = self._packets.get(end + 1)
                if following is None:
                    return  # incomplete: wait
                if following.packet.timestamp != first.packet.timestamp:
                    break  # the marker packet was lost and given up
                parts.append(following)
                end += 1
            for seq in range(self._next, end + 1):
                del self._packets[seq]
            self._next = end + 1
            keyframe = first.packet.keyframe
            if self.need_keyframe and not keyframe:
                self.frames_dropped += 1
                continue
            self.need_keyframe = False
            due = self.playout.schedule(first.packet.timestamp, now)
            self._ready.append(OutFrame(first.packet.timestamp,
                                        b"".join(p.packet.data for p in parts), keyframe, due))


class AudioAssembler:
    """One packet per frame, played in order at its time; a hole is skipped when due."""

    def __init__(self, playout: Playout) -> None:
        self.playout = playout
        self.skipped = 0
        self._packets: dict[int, InPacket] = {}
        self._due: dict[int, float] = {}
        self._highest: int | None = None
        self._next = 0

    def on_packet(self, packet: InPacket, now: float) -> None:
        if self._highest is None:
            self._highest = self._next = packet.seq
        seq = unwrap(packet.seq, self._highest, 16)
        if seq < self._next or seq in self._packets:
            return
        if seq - self._next > MAX_SPAN:
            self._packets.clear()
            self._due.clear()
            self._next = seq
        self._highest = max(self._highest, seq)
        self.playout.on_arrival(packet.timestamp, now)
        self._packets[seq] = packet
        self._due[seq] = self.playout.schedule(packet.timestamp, now)

    def poll(self, now: float) -> Actions:
        actions = Actions()
        while self._packets:
            packet = self._packets.get(self._next)
            if packet is None:
                following = min(self._packets)
                if self._due[following] > now:
                    break
                self.skipped += following - self._next
                self._next = following
                continue
            if self._due[self._next] > now:
                break
            actions.frames.append(OutFrame(packet.timestamp, packet.data, False,
                                           self._due.pop(self._next)))
            del self._packets[self._next]
            self._next += 1
        return actions

    @property
    def next_due(self) -> float | None:
        if not self._packets:
            return None
        return self._due[self._next if self._next in self._packets else min(self._packets)]
