"""Prometheus metrics, read from the node's live state and plain counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
        for kind, counts in node.counters.by_kind.items():
            feeds = [f for h in hubs for f in h.media.feeds.values() if f.kind is kind]
            publications.add_metric([kind], len(feeds))
            subscriptions.add_metric([kind], sum(len(f.down_tracks) for f in feeds))
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
        yield nacks


def new_registry(node: Node) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    return registry


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
