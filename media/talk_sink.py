"""TalkSink: the talk-time detector (`media.talk`) attached to an audio Feed like a
DownTrack. It reads each packet's RFC 6464 level (already parsed by aiortc) and sends
nothing on; while the publication is muted it counts nothing."""

from __future__ import annotations

from .fastpath import SourcePacket
from .interfaces import Upstream
from .talk import TalkDetector


class TalkSink:
    def __init__(self, detector: TalkDetector) -> None:
        self.detector = detector
        self.upstream: Upstream | None = None
        self.paused = False

    def __hash__(self) -> int:
        return id(self)

    def forward(self, source: SourcePacket, now: float) -> int:
        level = source.packet.extensions.audio_level
        if level is not None and not self.paused:
            self.detector.on_level(level[1], now)
        return 0  # nothing is sent on: the forwarding counters stay the subscribers'

    def pause(self) -> None:
        self.paused = True
        self.detector.stop()

    def resume(self) -> None:
        self.paused = False

    def restart(self) -> None:
        self.detector.stop()  # a new source: its first packets start a new span
