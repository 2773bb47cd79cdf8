"""Live connection quality of one participant on the node (pure: counters and time in).

Upstream figures come from the node's receivers of the participant's publications;
downstream figures from the participant's receiver reports on its downlinks. The score is
taken from the worse direction, smoothed by `QualityScorer` (falls fast, recovers slowly).
Identities are pseudonyms: nothing here knows a name or an address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .score import NetworkSample, Quality, QualityScorer
from .units import jitter_ms
from .window import LossWindow

WINDOW_MS = 5_000.0
UP_STALL_MS = 2_000.0
"""No new packet from a publisher for this long: its upstream media stopped."""
DOWN_STALL_MS = 8_000.0
"""No new receiver report for this long: downstream media stopped. Receiver reports are not
sent on every quality update: aiortc sends one every 0.5-1.5 s, Chrome every 1 s for video
and 5 s for audio, each randomised by ±50%, so an audio-only subscriber may be silent for
7.5 s while all is well."""


@dataclass(frozen=True)
class StreamCounters:
    """Cumulative counters of one RTP stream, as RTCP or the receiver keeps them."""

    packets_received: int
    packets_lost: int
    jitter: float
    """Interarrival jitter in RTP clock units."""
    clock_rate: int
    rtt_s: float | None = None


@dataclass(frozen=True)
class Direction:
    """One direction's figures over the window; None where nothing is known yet."""

    loss: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None


@dataclass(frozen=True)
class QualityReport:
    quality: Quality | None
    """None until there is a figure to judge (e.g. alone in the room, nothing published)."""
    score: float | None
    up: Direction
    down: Direction
    changed: bool
    """True when the room should be told (first verdict or a new quality level)."""


@dataclass
class _Side:
    stall_ms: float
    loss: LossWindow = field(default_factory=lambda: LossWindow(WINDOW_MS))
    received: int | None = None
    changed_ms: float = 0.0

    def update(self, now_ms: float, streams: list[StreamCounters]) -> tuple[Direction, bool]:
        """Figures for this direction and whether media arrived within `stall_ms`."""
        if not streams:
            self.received = None
            return Direction(), True
        received = sum(s.packets_received for s in streams)
        self.loss.add(now_ms, sum(s.packets_lost for s in streams), received)
        if self.received is None or received != self.received:
            self.changed_ms = now_ms
        self.received = received
        flowing = now_ms - self.changed_ms < self.stall_ms
        rtts = [s.rtt_s for s in streams if s.rtt_s is not None and s.rtt_s >= 0]
        return Direction(
            loss=self.loss.loss(now_ms),
            jitter_ms=max(jitter_ms(s.jitter, s.clock_rate) for s in streams),
            rtt_ms=1000.0 * sum(rtts) / len(rtts) if rtts else None,
        ), flowing


class ParticipantQuality:
    def __init__(self) -> None:
        self.scorer = QualityScorer()
        self._up = _Side(UP_STALL_MS)
        self._down = _Side(DOWN_STALL_MS)
        self._reported: Quality | None = None

    def update(
        self, now_ms: float, up: list[StreamCounters], down: list[StreamCounters]
    ) -> QualityReport:
        up_figures, up_flowing = self._up.update(now_ms, up)
        down_figures, down_flowing = self._down.update(now_ms, down)
        if not up and not down:
            return QualityReport(None, None, up_figures, down_figures, False)
        if not (up_flowing and down_flowing):
            verdict = self.scorer.update(now_ms, None)  # media stopped: LOST
        else:
            figures = [d for d in (up_figures, down_figures) if d.loss is not None]
            if not figures:
                return QualityReport(None, None, up_figures, down_figures, False)
            rtts = [d.rtt_ms for d in (up_figures, down_figures) if d.rtt_ms is not None]
            sample = NetworkSample(
                loss=max(d.loss or 0.0 for d in figures),
                jitter_ms=max(d.jitter_ms or 0.0 for d in figures),
                rtt_ms=max(rtts) if rtts else None,
            )
            verdict = self.scorer.update(now_ms, sample)
        changed = verdict.quality is not self._reported
        self._reported = verdict.quality
        return QualityReport(verdict.quality, verdict.score, up_figures, down_figures, changed)
