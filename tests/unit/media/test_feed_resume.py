"""A publisher whose link comes back on the same connection is asked for a keyframe, and
its subscribers' streams go on from it as from a new source."""

from __future__ import annotations

import asyncio

from aiortc.rtp import RtpPacket

from media.counters import ForwardingCounters
from media.feed import RESUMED_AFTER_S, Feed
from media.ids import Identity, Kind, PublicationId


class PliReceiver:
    """The parts of aiortc's RTCRtpReceiver the Feed touches, recording keyframe requests."""

    def __init__(self) -> None:
        self._RTCRtpReceiver__rtcp_ssrc = 1111
        self.plis: list[int] = []

    async def _send_rtcp(self, packet: object) -> None:
        pass

    async def _send_rtcp_pli(self, media_ssrc: int) -> None:
        self.plis.append(media_ssrc)

    async def _send_rtcp_nack(self, media_ssrc: int, lost: list[int]) -> None:
        pass


class RecordingSink:
    """A subscription, as far as the Feed's forwarding is concerned."""

    upstream: object = None

    def __init__(self) -> None:
        self.forwarded: list[int] = []
        self.restarts = 0

    def forward(self, source: object, now: float) -> int:
        self.forwarded.append(source.packet.sequence_number)  # type: ignore[attr-defined]
        return 0

    def restart(self) -> None:
        self.restarts += 1


def packet(seq: int, at: float) -> RtpPacket:
    return RtpPacket(payload_type=96, sequence_number=seq, timestamp=int(at * 90000),
                     ssrc=4242, payload=b"\x10\x00\x00")


async def test_a_source_that_sends_again_after_a_quiet_spell_restarts_from_a_keyframe() -> None:
    clock = [10.0]
    feed = Feed(PublicationId("maya:video"), Identity("maya"), Kind.VIDEO,
                ForwardingCounters(), lambda: clock[0])
    receiver = PliReceiver()
    feed.attach(receiver)  # type: ignore[arg-type]
    sink = RecordingSink()
    feed.sinks.append(sink)  # type: ignore[arg-type]
    for seq in range(10):  # steady: no request of its own
        clock[0] = 10.0 + seq * 0.033
        feed.on_packet(receiver, packet(seq, clock[0]))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert receiver.plis == []
    clock[0] += RESUMED_AFTER_S + 4.0  # a 5 s cut; its packets are stamped with the time
    feed.on_packet(receiver, packet(200, clock[0]))  # type: ignore[arg-type]
    clock[0] += 0.033
    feed.on_packet(receiver, packet(201, clock[0]))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert receiver.plis == [4242]  # once, at once
    assert sink.restarts == 1  # its stream goes on from the keyframe, without the gap
    assert sink.forwarded == [*range(10), 200, 201]


async def test_a_quiet_spell_without_loss_is_not_a_restart() -> None:
    """The node's own loop was starved: its socket kept every packet (no sequence gap)."""
    clock = [10.0]
    feed = Feed(PublicationId("maya:video"), Identity("maya"), Kind.VIDEO,
                ForwardingCounters(), lambda: clock[0])
    receiver = PliReceiver()
    feed.attach(receiver)  # type: ignore[arg-type]
    sink = RecordingSink()
    feed.sinks.append(sink)  # type: ignore[arg-type]
    feed.on_packet(receiver, packet(1, clock[0]))  # type: ignore[arg-type]
    clock[0] += RESUMED_AFTER_S + 0.5
    feed.on_packet(receiver, packet(2, clock[0] - RESUMED_AFTER_S))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert receiver.plis == [] and sink.restarts == 0 and sink.forwarded == [1, 2]
