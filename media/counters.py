"""Node-wide forwarding counters: plain integers on the hot path, read by /metrics at scrape."""

from __future__ import annotations

from dataclasses import dataclass, field

from .ids import Kind


@dataclass(slots=True)
class KindCounters:
    packets_forwarded: int = 0
    bytes_forwarded: int = 0
    packets_received: int = 0


@dataclass(slots=True)
class ForwardingCounters:
    by_kind: dict[Kind, KindCounters] = field(
        default_factory=lambda: {k: KindCounters() for k in Kind}
    )
    keyframe_requests_received: int = 0  # PLI/FIR from subscribers
    keyframe_requests_sent: int = 0  # PLI to publishers (after throttling)
    nacks_received: int = 0  # sequence numbers NACKed by subscribers
    retransmissions: int = 0  # answered from the node's history
    nacks_sent_upstream: int = 0  # sequence numbers NACKed to publishers
    nacks_not_held: int = 0  # NACKed by subscribers, never received by the node: not answered
    rembs_received: int = 0  # subscribers' bandwidth estimates
    receiver_reports_received: int = 0  # subscribers' RTCP receiver reports
    video_fallbacks: int = 0  # subscribers' videos paused because their link was too slow
