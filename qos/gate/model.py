"""What a gate run records (pure data; serialized with `dataclasses.asdict`).

Times inside a run are seconds since its measurement started (after the warm-up), so the
per-second samples, the outages and each reconnect's phases share one axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Check", "Disruption", "GateReport", "ProfileResult", "ReconnectTimeline",
           "RunResult", "Sample"]

Level = Literal["hard", "warn", "regression", "error"]


@dataclass
class Sample:
    """One second of a run, as the impaired learner saw it."""

    t: float
    """End of the second, seconds since the measurement started."""
    rtt_ms: float | None = None
    """Round-trip time of the learner's uplink from the receiver reports of this second
    (LSR/DLSR, not smoothed), ms; None if none arrived."""
    jitter_ms: float | None = None
    """Interarrival jitter of the audio the learner receives, ms."""
    video_jitter_ms: float | None = None
    loss_pct: float | None = None
    """Video packets lost after retransmission (never received at all), %."""
    network_loss_pct: float | None = None
    """Video packets lost on first transmission (before retransmission), %."""
    audio_loss_pct: float | None = None
    mos: float | None = None
    """E-model MOS of the received audio: delay RTT/2 + 2·jitter, audio loss."""
    fps: float = 0.0
    """New probe pictures decoded in this second."""
    freezes: int = 0
    """Freezes (W3C definition) that ended in this second."""
    freeze_ms: float = 0.0
    g2g_ms: float | None = None
    """Median glass-to-glass latency of this second's new pictures, ms."""
    host_stall_ms: float = 0.0
    """Time in this second when the measuring process was not running (`qos.gate.host`)."""
    disturbed: bool = False
    """A host stall in this second or shortly before: left out of the pooled figures."""


@dataclass
class ReconnectTimeline:
    """One reconnect of the learner: phase → seconds since the disruption started."""

    reason: str
    attempts: int
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class Disruption:
    """An outage or an address change during a run, and how the session came back."""

    kind: Literal["outage", "address_change"]
    start_t: float
    """Seconds since the measurement started."""
    duration_s: float
    """How long the network was down (0 for an address change)."""
    ttmr_s: float | None = None
    """Time to media restore: first decoded video in both directions - network restored."""
    receive_s: float | None = None
    """First probe picture the learner decoded, after network restored."""
    send_s: float | None = None
    """First picture of the learner the tutor decoded, after network restored."""
    seat_kept: bool = True
    """Nobody saw the learner leave."""
    reconnecting_seen: bool = False
    """The others were told `participant_reconnecting`."""
    reconnects: list[ReconnectTimeline] = field(default_factory=list)


@dataclass
class RunResult:
    """One repeat of one profile."""

    profile: str
    repeat: int
    seed: int
    measured_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    g2g_ms: list[float] = field(default_factory=list)
    """Glass-to-glass latency of every new probe picture, ms."""
    psnr_db: list[float] = field(default_factory=list)
    av_offset_ms: list[float] = field(default_factory=list)
    """Flash onset - beep onset per flash (positive: audio leads)."""
    freeze: dict[str, Any] = field(default_factory=dict)
    """`qos.freeze.FreezeSummary` of the probe video over the measured period (every
    freeze, as a viewer would count them)."""
    host_freezes: int = 0
    """Freezes that overlap a host stall (the measuring machine, not the session)."""
    host_freeze_ms: float = 0.0
    host_stall_s: float = 0.0
    """Time the measuring process was not running during the measurement."""
    excluded_frames: int = 0
    """Pictures whose glass-to-glass latency spans a host stall (left out of `g2g_ms`)."""
    probe: dict[str, int] = field(default_factory=dict)
    """Probe frame counts: unique, dropped, repeated, unreadable, skipped by the sender."""
    video_lost: int = 0
    video_expected: int = 0
    audio_lost: int = 0
    audio_expected: int = 0
    uplink_frames: int = 0
    """Frames of the learner's own video the tutor decoded in the measured period."""
    uplink_freezes: int = 0
    disruptions: list[Disruption] = field(default_factory=list)
    reconnects: int = 0
    """Reconnects of the learner during the run (with or without a disruption)."""
    seat_kept: bool = True
    impairment: dict[str, int] = field(default_factory=dict)
    """Datagrams dropped/passed by the impairment, per direction and reason."""
    error: str | None = None


@dataclass
class Check:
    """One verdict on one metric of one profile."""

    profile: str
    metric: str
    value: float | None
    limit: str
    """E.g. `≤ 300`, `≥ 3.6`, `|x| ≤ 50`, `≤ +10% of 120.0`."""
    level: Level
    passed: bool
    message: str = ""
    gap: str = ""
    """Id of the known gap that turned this hard threshold into a warning (thresholds.toml)."""

    @property
    def fails(self) -> bool:
        """This check fails the gate (warnings never do)."""
        return not self.passed and self.level != "warn"


@dataclass
class ProfileResult:
    name: str
    title: str
    group: str
    link: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(c.fails for c in self.checks)


@dataclass
class GateReport:
    schema: int
    thresholds_version: int
    started: str
    finished: str
    machine: dict[str, Any]
    config: dict[str, Any]
    profiles: list[ProfileResult] = field(default_factory=list)
    known_gaps: dict[str, str] = field(default_factory=dict)
    """Known gaps of the thresholds used: id → reason."""
    node_checks: list[Check] = field(default_factory=list)
    """Verdicts on the node itself (e.g. a background task of the in-process node died)."""

    @property
    def checks(self) -> list[Check]:
        return [c for p in self.profiles for c in p.checks] + self.node_checks

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.fails]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.passed and c.level == "warn"]

    @property
    def passed(self) -> bool:
        return not self.failures
