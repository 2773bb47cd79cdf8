"""Prometheus metrics, read from the node's live state and plain counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qos.live import QualityReport

from .keys import REGISTRY
from .node import Node


class NodeCollector(Collector):
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        hubs = list(node.hubs.values())
        yield GaugeMetricFamily("liveroom_rooms", "Rooms open on this node", len(hubs))
        yield GaugeMetricFamily(
            "liveroom_participants", "Participants seated on this node",
            sum(len(h.room) for h in hubs),
        )
        publications = GaugeMetricFamily(
            "liveroom_publications", "Published tracks on this node", labels=["kind"]
        )
        subscriptions = GaugeMetricFamily(
            "liveroom_subscriptions", "Tracks forwarded to subscribers", labels=["kind"]
        )
        packets = CounterMetricFamily(
            "liveroom_forwarded_packets", "RTP packets forwarded to subscribers", labels=["kind"]
        )
        octets = CounterMetricFamily(
            "liveroom_forwarded_bytes", "RTP bytes forwarded to subscribers", labels=["kind"]
        )
        received = CounterMetricFamily(
            "liveroom_received_packets", "RTP packets received from publishers", labels=["kind"]
        )
        down_tracks = [t for h in hubs for t in h.media.subscriptions()]
        for kind, counts in node.counters.by_kind.items():
            feeds = [f for h in hubs for f in h.media.feeds.values() if f.kind is kind]
            publications.add_metric([kind], len(feeds))
            subscriptions.add_metric([kind], sum(1 for t in down_tracks if t.kind is kind))
            packets.add_metric([kind], counts.packets_forwarded)
            octets.add_metric([kind], counts.bytes_forwarded)
            received.add_metric([kind], counts.packets_received)
        yield from (publications, subscriptions, packets, octets, received)
        c = node.counters
        keyframes = CounterMetricFamily(
            "liveroom_keyframe_requests", "Keyframe requests", labels=["direction"]
        )
        keyframes.add_metric(["from_subscribers"], c.keyframe_requests_received)
        keyframes.add_metric(["to_publishers"], c.keyframe_requests_sent)
        yield keyframes
        nacks = CounterMetricFamily(
            "liveroom_nacks", "NACKed sequence numbers", labels=["outcome"]
        )
        nacks.add_metric(["received"], c.nacks_received)
        nacks.add_metric(["retransmitted"], c.retransmissions)
        nacks.add_metric(["sent_upstream"], c.nacks_sent_upstream)
        nacks.add_metric(["not_held"], c.nacks_not_held)
        yield nacks
        feedback = CounterMetricFamily(
            "liveroom_subscriber_rtcp", "RTCP feedback packets from subscribers", labels=["type"]
        )
        feedback.add_metric(["receiver_report"], c.receiver_reports_received)
        feedback.add_metric(["remb"], c.rembs_received)
        yield feedback
        yield CounterMetricFamily(
            "liveroom_video_fallbacks",
            "Subscribers' videos paused (audio only) because their link could not carry them",
            value=c.video_fallbacks,
        )
        paused = GaugeMetricFamily(
            "liveroom_subscriptions_video_paused",
            "Video subscriptions paused by the audio-only fallback now",
        )
        paused.add_metric([], sum(1 for t in down_tracks if t.starved))
        yield paused
        levels = GaugeMetricFamily(
            "liveroom_participants_by_quality", "Participants by connection quality",
            labels=["quality"],
        )
        by_level: dict[str, int] = {}
        for hub in hubs:
            for report in hub.quality_reports.values():
                if report.quality is not None:
                    level = report.quality.value
                    by_level[level] = by_level.get(level, 0) + 1
        for level in ("excellent", "good", "fair", "poor", "lost"):
            levels.add_metric([level], by_level.get(level, 0))
        yield levels
        yield from _load(node)


def _load(node: Node) -> Iterator[Metric]:
    """The node's own load: what admission control decides on (signalling/admission.py)."""
    a = node.admission
    yield GaugeMetricFamily(
        "liveroom_node_overloaded",
        "1 while the node refuses new participants and rooms (node_overloaded)",
        value=1 if a.overloaded else 0,
    )
    yield GaugeMetricFamily(
        "liveroom_event_loop_lag_mean_seconds",
        "Mean event-loop lag over the admission window", value=a.mean_lag_s,
    )
    yield GaugeMetricFamily(
        "liveroom_process_cpu_mean_cores",
        "Mean process CPU (cores) over the admission window", value=a.mean_cpu_cores,
    )
    yield GaugeMetricFamily(
        "liveroom_load_shedding_level",
        "0 none, 1 learners' videos to learners paused, 2 learners' videos to everyone",
        value=node.shedding.level,
    )
    yield GaugeMetricFamily(
        "liveroom_subscriptions_video_shed", "Video subscriptions paused by load shedding now",
        value=sum(1 for h in node.hubs.values() for t in h.media.subscriptions() if t.shed),
    )
    yield CounterMetricFamily(
        "liveroom_admission_refusals", "Joins and rooms refused with node_overloaded",
        value=a.refusals,
    )
    yield CounterMetricFamily(
        "liveroom_node_starved_spells",
        "Times the node found itself starved (a late tick, a consent check it could not "
        "hear in time)", value=node.loop_lag.spells,
    )


class QualityHistograms:
    """Node-level distributions of participants' connection figures (no per-participant
    labels), observed at every quality update."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loss = Histogram(
            "liveroom_quality_loss_ratio", "Packet loss per participant and direction",
            ["direction"], buckets=(0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=registry,
        )
        self.jitter = Histogram(
            "liveroom_quality_jitter_seconds", "Interarrival jitter", ["direction"],
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5), registry=registry,
        )
        self.rtt = Histogram(
            "liveroom_quality_rtt_seconds", "Round-trip time node-subscriber",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0), registry=registry,
        )
        self.score = Histogram(
            "liveroom_quality_score", "Smoothed quality score (MOS scale)",
            buckets=(1.0, 2.0, 2.5, 3.1, 3.6, 4.0, 4.3, 4.5), registry=registry,
        )

    def observe(self, report: QualityReport) -> None:
        for direction, figures in (("up", report.up), ("down", report.down)):
            if figures.loss is not None:
                self.loss.labels(direction).observe(figures.loss)
            if figures.jitter_ms is not None:
                self.jitter.labels(direction).observe(figures.jitter_ms / 1000.0)
        if report.down.rtt_ms is not None:
            self.rtt.observe(report.down.rtt_ms / 1000.0)
        if report.score is not None:
            self.score.observe(report.score)


def new_registry(node: Node) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    node.quality_observers.append(QualityHistograms(registry).observe)
    lag = Histogram(
        "liveroom_event_loop_lag_seconds", "How late the node's 0.25 s tick ran",
        buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
        registry=registry,
    )
    node.lag_observers.append(lag.observe)
    return registry


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
