"""TalkSink: the talk-time detector (`media.talk`) attached to an audio Feed like a
DownTrack. It reads each packet's RFC 6464 level (already parsed by aiortc) and sends
nothing on; while the publication is muted it counts nothing.

The detector is fed the packet's media time, not its arrival time: arrival time of the
earliest packet of the run, advanced by the RTP clock (48 kHz), so network jitter and
bursts do not stretch or shrink speaking spans. A packet arriving more than
`REANCHOR_S` later than that line (a stall, a sender's reset clock) starts a new run.
"""

from __future__ import annotations

from .fastpath import SourcePacket
from .interfaces import Upstream
from .rtp import ts_diff
from .talk import TalkDetector

OPUS_RATE = 48_000
REANCHOR_S = 0.5


class TalkSink:
    def __init__(self, detector: TalkDetector) -> None:
        self.detector = detector
        self.upstream: Upstream | None = None
        self.paused = False
        self._ssrc: int | None = None
        self._ts0 = 0
        self._offset = 0.0  # node time of the run's RTP timestamp ts0 (earliest arrival)

    def __hash__(self) -> int:
        return id(self)

    def forward(self, source: SourcePacket, now: float) -> int:
        level = source.packet.extensions.audio_level
        if level is None or self.paused:
            return 0
        media = ts_diff(source.timestamp, self._ts0) / OPUS_RATE
        offset = now - media
        if self._ssrc != source.ssrc or offset - self._offset > REANCHOR_S:
            self._ssrc, self._ts0, self._offset, media = source.ssrc, source.timestamp, now, 0.0
        elif offset < self._offset:
            self._offset = offset  # an earlier arrival: the line moves down to it
        self.detector.on_level(level[1], self._offset + media)
        return 0  # nothing is sent on: the forwarding counters stay the subscribers'

    def pause(self) -> None:
        self.paused = True
        self.detector.stop()

    def resume(self) -> None:
        self.paused = False

    def restart(self) -> None:
        self.detector.stop()  # a new source: its first packets start a new span
        self._ssrc = None
