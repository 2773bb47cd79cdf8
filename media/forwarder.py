"""Per-subscription forwarding decisions (sans-IO).

A Forwarder maps the packets of one publication onto the one outgoing stream of a
subscription. The outgoing stream keeps its own SSRC, sequence numbers and timestamps for
its whole life: across pauses (mute), and across a change of source (the publisher
reconnected with a new SSRC), the numbers continue where they stopped. Inside one run of
a source ("epoch") the mapping is a constant offset, so gaps survive and a subscriber's
NACK can be mapped back to the publisher's sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .rtp import seq_add, seq_diff, ts_add


class Verdict(Enum):
    FORWARD = "forward"
    DROP_PAUSED = "drop_paused"
    DROP_WAITING_KEYFRAME = "drop_waiting_keyframe"
    DROP_OLD = "drop_old"


@dataclass(frozen=True, slots=True)
class Translation:
    verdict: Verdict
    sequence_number: int = 0
    timestamp: int = 0


_PAUSED = Translation(Verdict.DROP_PAUSED)
_WAITING = Translation(Verdict.DROP_WAITING_KEYFRAME)
_OLD = Translation(Verdict.DROP_OLD)


class Forwarder:
    """Decides, per packet, whether to forward it and with which sequence number and timestamp.

    `gate_on_keyframe` is True for video: a new epoch starts only on the first packet of a
    keyframe, so a subscriber never receives a frame it cannot decode.
    """

    def __init__(
        self,
        *,
        clock_rate: int,
        gate_on_keyframe: bool,
        initial_sequence_number: int,
        initial_timestamp: int,
    ) -> None:
        self.clock_rate = clock_rate
        self.gate_on_keyframe = gate_on_keyframe
        self._initial_seq = initial_sequence_number & 0xFFFF
        self._initial_ts = initial_timestamp & 0xFFFFFFFF
        self.paused = False
        self._running = False  # an epoch is in progress
        self._source: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._epoch_first_seq = 0
        self._last_seq: int | None = None  # highest outgoing sequence number sent
        self._last_ts = 0
        self._last_time = 0.0

    @property
    def waiting_for_keyframe(self) -> bool:
        return self.gate_on_keyframe and not self.paused and not self._running

    @property
    def last_sequence_number(self) -> int | None:
        return self._last_seq

    def pause(self) -> None:
        self.paused = True
        self._running = False

    def resume(self) -> None:
        self.paused = False

    def restart(self) -> None:
        """Wait for a new starting point (a keyframe for video), e.g. after the source changed."""
        self._running = False

    def translate(
        self, ssrc: int, sequence_number: int, timestamp: int, starts_keyframe: bool, now: float
    ) -> Translation:
        if self.paused:
            return _PAUSED
        if self._running and ssrc != self._source:
            self._running = False
        if not self._running:
            if self.gate_on_keyframe and not starts_keyframe:
                return _WAITING
            self._start_epoch(ssrc, sequence_number, timestamp, now)
        elif seq_diff(sequence_number, self._epoch_first_seq) < 0:
            return _OLD
        out_seq = seq_add(sequence_number, self._seq_offset)
        out_ts = ts_add(timestamp, self._ts_offset)
        if self._last_seq is None or seq_diff(out_seq, self._last_seq) > 0:
            self._last_seq = out_seq
            self._last_ts = out_ts
            self._last_time = now
        return Translation(Verdict.FORWARD, out_seq, out_ts)

    def source_sequence_number(self, out_sequence_number: int) -> int | None:
        """The publisher's sequence number of an outgoing one, if it belongs to this epoch."""
        if not self._running or self._last_seq is None:
            return None
        source_seq = seq_add(out_sequence_number, -self._seq_offset)
        if seq_diff(source_seq, self._epoch_first_seq) < 0:
            return None
        if seq_diff(out_sequence_number, self._last_seq) > 0:
            return None
        return source_seq

    def _start_epoch(self, ssrc: int, seq: int, ts: int, now: float) -> None:
        if self._last_seq is None:
            out_seq, out_ts = self._initial_seq, self._initial_ts
        else:
            out_seq = seq_add(self._last_seq, 1)
            if ssrc == self._source:
                out_ts = ts_add(ts, self._ts_offset)
            else:
                elapsed = max(1, round((now - self._last_time) * self.clock_rate))
                out_ts = ts_add(self._last_ts, elapsed)
        self._seq_offset = (out_seq - seq) & 0xFFFF
        self._ts_offset = (out_ts - ts) & 0xFFFFFFFF
        self._epoch_first_seq = seq
        self._source = ssrc
        self._running = True
