"""Reads a participant's RTP counters from aiortc for live quality (adapter, no decisions).

Upstream: the node's receiver statistics of the participant's publications (what aiortc
uses for its RTCP receiver reports). Downstream: the receiver reports the participant sends
on its downlinks (aiortc keeps them as `remote-inbound-rtp` stats of each sender). Loss is
network loss, before retransmission, in both directions.
"""

from __future__ import annotations

from aiortc.rtcrtpreceiver import StreamStatistics

from media.ids import CLOCK_RATE, Identity
from media.room_media import RoomMedia
from qos.live import StreamCounters


def uplink_counters(media: RoomMedia, identity: Identity) -> list[StreamCounters]:
    counters = []
    for feed in media.feeds.values():
        if feed.owner != identity or feed.receiver is None or feed.source_ssrc is None:
            continue
        streams: dict[int, StreamStatistics] = feed.receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
        stream = streams.get(feed.source_ssrc)
        if stream is None or stream.max_seq is None:
            continue
        counters.append(StreamCounters(
            packets_received=stream.packets_received,
            packets_lost=stream.packets_lost,
            jitter=float(stream.jitter),
            clock_rate=CLOCK_RATE[feed.kind],
        ))
    return counters


async def downlink_counters(media: RoomMedia, identity: Identity) -> list[StreamCounters]:
    counters = []
    for downlink in list(media.downlinks.values()):
        if downlink.subscriber != identity:
            continue
        for kind, down_track in downlink.tracks.items():
            if not down_track.ready:
                continue
            stats = await down_track.sender.getStats()
            for report in stats.values():
                if report.type == "remote-inbound-rtp":
                    counters.append(StreamCounters(
                        packets_received=max(0, report.packetsReceived),
                        packets_lost=max(0, report.packetsLost),
                        jitter=float(report.jitter),
                        clock_rate=CLOCK_RATE[kind],
                        # aiortc's RTT can go negative (same LSR twice): unknown, not < 0
                        rtt_s=_valid_rtt(report.roundTripTime),
                    ))
    return counters


def _valid_rtt(rtt: float | None) -> float | None:
    return rtt if rtt is not None and rtt >= 0 else None
