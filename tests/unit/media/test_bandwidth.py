"""BitrateCap: the REMB a publisher gets is min(uplink estimate, subscribers' estimates)."""

from __future__ import annotations

import asyncio

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media.bandwidth import BitrateCap, CapPolicy, Limit, Remb
from media.counters import ForwardingCounters
from media.feed import Feed
from media.ids import Identity, Kind, PublicationId


def test_the_uplink_estimate_passes_unchanged_while_no_subscriber_reported() -> None:
    cap = BitrateCap()
    assert cap.uplink_estimate(1_200_000, now=0.0) == Remb(1_200_000, Limit.UPLINK, False)
    assert cap.poll(now=1.0) is None  # nothing changed


def test_the_slowest_subscriber_caps_the_uplink_estimate() -> None:
    cap = BitrateCap()
    cap.uplink_estimate(1_200_000, now=0.0)
    cap.subscriber_estimate("a", 900_000, now=0.1)
    cap.subscriber_estimate("b", 450_000, now=0.2)
    remb = cap.uplink_estimate(1_300_000, now=0.5)
    assert (remb.bitrate, remb.limit) == (450_000, Limit.SUBSCRIBERS)
    # an uplink slower than every subscriber sets the rate itself
    assert cap.uplink_estimate(400_000, now=1.0).bitrate == 400_000


def test_a_fall_of_ten_percent_or_more_is_sent_at_once() -> None:
    cap = BitrateCap()
    cap.uplink_estimate(1_000_000, now=0.0)
    # 1_000_000 -> 900_000 is a 10 % fall: sent 10 ms after the last REMB
    assert cap.subscriber_estimate("a", 900_000, now=0.01) == Remb(
        900_000, Limit.SUBSCRIBERS, False
    )
    # 900_000 -> 820_000 is 8.9 %: waits for the 250 ms interval
    assert cap.subscriber_estimate("a", 820_000, now=0.02) is None
    assert cap.subscriber_estimate("a", 820_000, now=0.26) == Remb(
        820_000, Limit.SUBSCRIBERS, False
    )


def test_a_rise_waits_for_the_interval() -> None:
    cap = BitrateCap()
    cap.subscriber_estimate("a", 500_000, now=0.0)  # no uplink estimate yet: sent
    assert cap.sent == 500_000
    assert cap.subscriber_estimate("a", 600_000, now=0.1) is None
    remb = cap.poll(now=0.25)
    assert remb is not None and remb.bitrate == 600_000


def test_an_estimate_older_than_five_seconds_no_longer_counts() -> None:
    cap = BitrateCap()
    cap.subscriber_estimate("slow", 300_000, now=0.0)
    cap.subscriber_estimate("fast", 800_000, now=4.0)
    assert cap.subscribers_min(now=5.0) == 300_000  # 5.0 s old: still counts
    assert cap.subscribers_min(now=5.01) == 800_000
    assert cap.uplink_estimate(1_000_000, now=8.5).bitrate == 800_000
    assert cap.uplink_estimate(1_000_000, now=9.01) == Remb(1_000_000, Limit.UPLINK, True)


def test_a_departed_subscriber_stops_counting() -> None:
    cap = BitrateCap()
    cap.uplink_estimate(1_000_000, now=0.0)
    cap.subscriber_estimate("slow", 300_000, now=0.1)
    cap.subscriber_estimate("fast", 700_000, now=0.2)
    assert cap.sent == 300_000
    # the slow one leaves 1 s later: the next-slowest is sent at once (interval passed)
    assert cap.forget("slow", now=1.1) == Remb(700_000, Limit.SUBSCRIBERS, True)
    # the last one leaves: the uplink estimate alone (the cap's end is worth a log line)
    assert cap.forget("fast", now=1.5) == Remb(1_000_000, Limit.UPLINK, True)
    assert cap.forget("unknown", now=3.0) is None


def test_log_worthy_changes_are_those_of_the_subscribers_cap_by_a_quarter() -> None:
    cap = BitrateCap()
    # the uplink estimate ramping on its own is never notable
    assert not cap.uplink_estimate(500_000, now=0.0).notable
    assert not cap.uplink_estimate(1_000_000, now=1.0).notable
    # a subscriber's cap setting in (1_000_000 -> 400_000) is
    assert cap.subscriber_estimate("a", 400_000, now=1.5) == Remb(
        400_000, Limit.SUBSCRIBERS, True
    )
    # 400_000 -> 460_000 (+15 %) and -> 490_000 (+22.5 % of the logged 400_000) are not
    remb = cap.subscriber_estimate("a", 460_000, now=2.0)
    assert remb is not None and not remb.notable
    remb = cap.subscriber_estimate("a", 490_000, now=2.5)
    assert remb is not None and not remb.notable
    # -> 500_000 is +25 % of the last logged 400_000
    remb = cap.subscriber_estimate("a", 500_000, now=3.0)
    assert remb is not None and remb.notable


def test_switched_off_the_publisher_gets_the_uplink_estimate_only() -> None:
    cap = BitrateCap(CapPolicy(enabled=False))
    cap.uplink_estimate(1_000_000, now=0.0)
    assert cap.subscriber_estimate("a", 300_000, now=0.1) is None
    assert cap.uplink_estimate(1_100_000, now=0.5).bitrate == 1_100_000


# --- the Feed's adapter: aiortc's uplink REMB rewritten, our own sent on a fall ----------


class FakeReceiver:
    """The parts of aiortc's RTCRtpReceiver the Feed touches for REMB."""

    def __init__(self) -> None:
        self._RTCRtpReceiver__rtcp_ssrc = 1111
        self.sent: list[AnyRtcpPacket] = []

    async def _send_rtcp(self, packet: AnyRtcpPacket) -> None:
        self.sent.append(packet)

    def rembs(self) -> list[tuple[int, list[int]]]:
        return [
            unpack_remb_fci(p.fci) for p in self.sent
            if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP
        ]


class StubDownTrack:
    """A subscription, as far as the Feed's congestion control is concerned."""

    feed: Feed | None = None


def aiortc_remb(bitrate: int, ssrcs: list[int]) -> RtcpPsfbPacket:
    return RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1111, media_ssrc=0,
                          fci=pack_remb_fci(bitrate, ssrcs))


async def test_the_feed_caps_the_uplink_remb_and_sends_a_fall_at_once() -> None:
    clock = [10.0]
    feed = Feed(PublicationId("tutor:video"), Identity("tutor"), Kind.VIDEO,
                ForwardingCounters(), lambda: clock[0])
    receiver = FakeReceiver()
    feed.attach(receiver)  # type: ignore[arg-type]
    await receiver._send_rtcp(aiortc_remb(1_000_000, [4242]))  # aiortc's own, unchanged
    slow = StubDownTrack()
    feed.subscriber_estimate(slow, 400_000, now=10.1)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    clock[0] = 10.5
    await receiver._send_rtcp(aiortc_remb(1_100_000, [4242]))  # rewritten
    await receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1111, media_ssrc=4242))
    clock[0] = 10.8  # the subscriber leaves 0.3 s later: the uplink's estimate again
    feed.remove(slow)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    uplink = unpack_remb_fci(pack_remb_fci(1_100_000, []))[0]  # 18 bits of mantissa
    assert receiver.rembs() == [
        (1_000_000, [4242]), (400_000, [4242]), (400_000, [4242]), (uplink, [4242]),
    ]
    assert len(receiver.sent) == 5  # the PLI went through untouched


async def test_audio_feeds_leave_the_receiver_alone() -> None:
    feed = Feed(PublicationId("tutor:audio"), Identity("tutor"), Kind.AUDIO,
                ForwardingCounters(), lambda: 0.0)
    receiver = FakeReceiver()
    send = receiver._send_rtcp
    feed.attach(receiver)  # type: ignore[arg-type]
    assert receiver._send_rtcp == send and feed.bitrate_cap is None


def test_the_kept_minimum_agrees_with_a_scan_of_every_fresh_estimate() -> None:
    """The minimum is kept as estimates arrive, leave and go stale (not scanned per REMB):
    a seeded random run against the plain definition."""
    import random

    rng = random.Random(16)
    cap = BitrateCap()
    fresh: dict[int, tuple[int, float]] = {}
    now = 0.0
    for _ in range(5000):
        now += rng.choice((0.0, 0.01, 0.2, 1.0, 3.0))
        subscriber = rng.randrange(12)
        if rng.random() < 0.1:
            cap.forget(subscriber, now)
            fresh.pop(subscriber, None)
        else:
            bitrate = rng.randrange(100_000, 2_000_000, 50_000)
            cap.subscriber_estimate(subscriber, bitrate, now)
            fresh[subscriber] = (bitrate, now)
        alive = [b for b, at in fresh.values() if at >= now - cap.policy.max_age]
        assert cap.subscribers_min(now) == (min(alive) if alive else None)
