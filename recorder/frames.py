"""Whole frames from RTP packets (sans-IO): VP8 depacketization, Opus as is.

A VP8 frame is the packets of one timestamp from the one that starts it (S=1, PID=0) to the
one with the marker bit, with no sequence number missing. A frame that cannot be completed
(a packet lost, or a later frame completed first) is reported lost: the next frame written
must be a keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.rtp import ts_diff

WINDOW = 8  # frames being assembled at once


@dataclass(frozen=True, slots=True)
class Frame:
    timestamp: int
    data: bytes
    keyframe: bool
    arrival: float  # of its last packet, session time
    ssrc: int


def vp8_payload(payload: bytes) -> tuple[bool, bytes]:
    """(starts a partition 0, the VP8 data) of one packet's payload (RFC 7741 descriptor).
    Raises ValueError if the descriptor is truncated."""
    if not payload:
        raise ValueError("empty VP8 payload")
    first = payload[0]
    pos = 1
    if first & 0x80:  # X
        if len(payload) < 2:
            raise ValueError("truncated VP8 descriptor")
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= pos:
                raise ValueError("truncated VP8 descriptor")
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L
            pos += 1
        if ext & 0x30:  # T or K
            pos += 1
    if pos > len(payload):
        raise ValueError("truncated VP8 descriptor")
    starts = bool(first & 0x10) and (first & 0x07) == 0
    return starts, payload[pos:]


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe's header, None for other frames."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return (int.from_bytes(frame[6:8], "little") & 0x3FFF,
            int.from_bytes(frame[8:10], "little") & 0x3FFF)


class Vp8Assembler:
    """Packets in (any order within the window), whole frames out in timestamp order."""

    def __init__(self) -> None:
        self._pending: dict[int, dict[int, tuple[bool, bool, bytes]]] = {}
        self._last_ts: int | None = None
        self.lost = 0

    def on_packet(
        self, ssrc: int, seq: int, ts: int, marker: bool, payload: bytes, arrival: float
    ) -> tuple[Frame | None, bool]:
        """(the frame this packet completed, if any; whether frames were lost)."""
        if self._last_ts is not None and ts_diff(ts, self._last_ts) < 0:
            return None, False  # older than a frame already written: too late
        try:
            starts, data = vp8_payload(payload)
        except ValueError:
            return None, False
        self._pending.setdefault(ts, {})[seq] = (starts, marker, data)
        frame = self._complete(ts, ssrc, arrival)
        if frame is None:
            lost = len(self._pending) > WINDOW
            if lost:
                self._drop_older(ts)
            return None, lost
        lost = self._drop_older(ts)
        self._last_ts = ts
        return frame, lost

    def reset(self) -> None:
        """A new source: forget what was being assembled."""
        self._pending.clear()
        self._last_ts = None

    def _complete(self, ts: int, ssrc: int, arrival: float) -> Frame | None:
        packets = self._pending[ts]
        seqs = sorted(packets, key=lambda s: (s - min(packets)) & 0xFFFF)
        first, last = seqs[0], seqs[-1]
        if not packets[first][0] or not packets[last][1]:
            return None
        if ((last - first) & 0xFFFF) + 1 != len(seqs):
            return None
        data = b"".join(packets[s][2] for s in seqs)
        del self._pending[ts]
        return Frame(ts, data, bool(data) and not data[0] & 1, arrival, ssrc)

    def _drop_older(self, ts: int) -> bool:
        older = [t for t in self._pending if ts_diff(ts, t) > 0]
        for t in older:
            del self._pending[t]
        self.lost += len(older)
        return bool(older)
