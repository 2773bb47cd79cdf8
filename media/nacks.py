"""Which lost packets of a publisher's video to NACK, and when (pure: time passed in).

aiortc's receiver NACKs *every* packet still missing among the last 128 each time it sees a
new gap. On a link that is already too slow, every NACK makes the publisher resend them
all, the resends are lost as well, and the next gap asks for them again: a publisher on a
150 kbps uplink was asked for 4,300 retransmissions in 20 s of a ~700-packet stream. These
are Chrome's rules (NackModule2) instead:

- a packet is NACKed as soon as a later one shows it missing;
- then again at most once per round trip (measured here as first NACK -> retransmission,
  smoothed, 100 ms until measured), at most `MAX_RETRIES` times in all;
- it is given up after `GIVE_UP_S` (a picture that late is no use: the subscribers have
  asked for a keyframe by then), or when the gap is too large to repair (`MAX_GAP`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .rtp import unwrap

__all__ = ["NackList"]

MAX_RETRIES = 10
GIVE_UP_S = 1.0
MAX_GAP = 1000
"""A jump of more sequence numbers than this starts over (Chrome: kMaxNackPackets)."""
KEEP_TIMING_S = 4.0
"""A given-up packet's retransmission still measures the round trip until this long after
the loss: on a link with a full queue every repair arrives after the give-up, and timing
only the early ones would keep the estimate short and the NACKs too frequent."""
DEFAULT_RTT_S = 0.1
MIN_RTT_S = 0.02
MAX_RTT_S = 1.0


@dataclass(slots=True)
class _Lost:
    first_seen: float
    first_sent: float | None = None
    sent_at: float | None = None
    tries: int = 0


class NackList:
    """The missing packets of one RTP stream and the NACK decisions about them."""

    def __init__(self) -> None:
        self.rtt = DEFAULT_RTT_S
        self.given_up = 0
        self._lost: dict[int, _Lost] = {}
        self._abandoned: dict[int, _Lost] = {}  # given up, but their answer still times
        self._highest: int | None = None

    def __contains__(self, seq: int) -> bool:
        """Whether `seq` (16-bit) is missing and still being asked for."""
        return self._highest is not None and unwrap(seq, self._highest, 16) in self._lost

    def on_packet(self, seq: int, now: float) -> None:
        """A packet (or its retransmission, unwrapped) arrived."""
        if self._highest is None:
            self._highest = unwrap(seq, seq, 16)
            return
        seq = unwrap(seq, self._highest, 16)
        if seq > self._highest:
            if seq - self._highest > MAX_GAP:
                self.given_up += len(self._lost)
                self._lost.clear()
                self._abandoned.clear()
            else:
                for missing in range(self._highest + 1, seq):
                    self._lost[missing] = _Lost(now)
            self._highest = seq
            return
        lost = self._lost.pop(seq, None) or self._abandoned.pop(seq, None)
        if lost is not None and lost.first_sent is not None:
            # from the first NACK: an answer to a later one would make this too short, and
            # the first is the one answered when the way back is long (a full queue)
            sample = min(max(now - lost.first_sent, MIN_RTT_S), MAX_RTT_S)
            self.rtt += (sample - self.rtt) / 8

    def due(self, now: float) -> list[int]:
        """The sequence numbers (16-bit) to NACK now; they count as sent."""
        if not self._lost and not self._abandoned:
            return []  # the common case, once per publisher packet: nothing to allocate
        nacks = []
        for seq, lost in list(self._abandoned.items()):
            if now - lost.first_seen <= KEEP_TIMING_S:
                break  # in the order they were lost
            del self._abandoned[seq]
        for seq, lost in list(self._lost.items()):
            waited = now - lost.sent_at if lost.sent_at is not None else 0.0
            if now - lost.first_seen > GIVE_UP_S or (
                lost.tries >= MAX_RETRIES and waited >= self.rtt
            ):
                del self._lost[seq]
                self.given_up += 1
                if lost.first_sent is not None:
                    self._abandoned[seq] = lost
            elif lost.tries < MAX_RETRIES and (lost.sent_at is None or waited >= self.rtt):
                if lost.first_sent is None:
                    lost.first_sent = now
                lost.sent_at = now
                lost.tries += 1
                nacks.append(seq & 0xFFFF)
        return nacks
