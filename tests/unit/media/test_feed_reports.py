"""The Feed hands the publisher's sender reports to the Sinks that want them, only those,
and only while they are attached."""

from __future__ import annotations

from aiortc.rtp import AnyRtcpPacket, RtcpSenderInfo, RtcpSrPacket

from media.counters import ForwardingCounters
from media.fastpath import SourcePacket
from media.feed import Feed
from media.ids import Identity, Kind, PublicationId
from media.interfaces import Upstream


class FakeReceiver:
    """The parts of aiortc's RTCRtpReceiver the Feed touches for sender reports."""

    def __init__(self) -> None:
        self.handled: list[AnyRtcpPacket] = []

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        self.handled.append(packet)

    def ssrcs(self) -> list[int]:
        return [p.ssrc for p in self.handled if isinstance(p, RtcpSrPacket)]


class PlainSink:
    upstream: Upstream | None = None

    def forward(self, source: SourcePacket, now: float) -> int:
        return 0

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def restart(self) -> None: ...


class ClockSink(PlainSink):
    def __init__(self) -> None:
        self.reports: list[tuple[int, int, int, float]] = []

    def sender_report(self, ssrc: int, ntp: int, rtp_timestamp: int, now: float) -> None:
        self.reports.append((ssrc, ntp, rtp_timestamp, now))


def report(ssrc: int) -> RtcpSrPacket:
    return RtcpSrPacket(ssrc=ssrc, sender_info=RtcpSenderInfo(
        ntp_timestamp=1 << 33, rtp_timestamp=900, packet_count=1, octet_count=2))


async def test_sender_reports_reach_the_sinks_that_want_them_while_attached() -> None:
    feed = Feed(PublicationId("tutor:audio"), Identity("tutor"), Kind.AUDIO,
                ForwardingCounters(), lambda: 5.0)
    receiver = FakeReceiver()
    feed.attach(receiver)  # type: ignore[arg-type]
    plain, clock = PlainSink(), ClockSink()
    feed.add(plain)
    feed.add(clock)
    await receiver._handle_rtcp_packet(report(7))
    feed.remove(clock)
    await receiver._handle_rtcp_packet(report(8))
    assert clock.reports == [(7, 1 << 33, 900, 5.0)]
    assert receiver.ssrcs() == [7, 8]  # aiortc still sees every report
    assert feed.sinks == [plain]
