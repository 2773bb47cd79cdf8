"""The node asks a publisher for each lost video packet a bounded number of times.

aiortc's own receiver NACKs every packet still missing among the last 128 each time it sees
a new gap, so on a slow uplink the publisher resends the same packets over and over, and
the resends fill the link further. The node uses `media.nacks` instead. The same publisher
(a fixed-rate 300 kbps clip that cannot adapt, on a 150 kbps uplink) is run with the
node's NACK list and with aiortc's generator put back.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from aiortc.rtcrtpreceiver import NackGenerator

from media import feed as feed_module
from media.ids import Kind, Role
from media.nacks import MAX_RETRIES
from qos.impairment import Impairment, LinkProfile
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from tests.conftest import RunningNode
from tests.integration.test_forwarding import has_tracks

WINDOW_S = 6.0


@dataclass
class Asked:
    sent: int  # video packets first sent in the window
    resent: int  # retransmissions the node asked for (and got) in the window
    most: int  # the most any one packet was resent


async def run(node: RunningNode, clip: Clip, room: str) -> Asked:
    link = Impairment(outbound=LinkProfile(rate_kbps=150, queue_packets=32), seed=11)
    tutor = Client(node.url, room, node.token(room, "tutor", Role.TUTOR), impairment=link)
    learner = Client(node.url, room, node.token(room, "learner", Role.LEARNER))
    try:
        await tutor.join()
        await learner.join()
        await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
        assert tutor.uplink is not None
        sender = next(s for s in tutor.uplink.getSenders() if s.kind == Kind.VIDEO)
        resent: list[int] = []
        retransmit = sender._retransmit

        async def counted(seq: int) -> None:
            resent.append(seq)
            await retransmit(seq)

        sender._retransmit = counted  # type: ignore[method-assign,assignment]
        await learner.wait_for(has_tracks("tutor"))
        sent_before, resent_before = sender._RTCRtpSender__packet_count, len(resent)  # type: ignore[attr-defined]
        await asyncio.sleep(WINDOW_S)
        window = resent[resent_before:]
        return Asked(
            sent=sender._RTCRtpSender__packet_count - sent_before,  # type: ignore[attr-defined]
            resent=len(window),
            most=max(Counter(window).values(), default=0),
        )
    finally:
        await tutor.close()
        await learner.close()


async def test_each_lost_packet_is_asked_for_a_bounded_number_of_times(
    node: RunningNode, clip: Clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = await run(node, clip, "nack-list")
    attach = feed_module.Feed.attach

    def aiortc_nacks(self: feed_module.Feed, receiver: Any) -> None:
        attach(self, receiver)
        if self.kind is Kind.VIDEO:
            self.nacks = None
            receiver._RTCRtpReceiver__nack_generator = NackGenerator()

    monkeypatch.setattr(feed_module.Feed, "attach", aiortc_nacks)
    theirs = await run(node, clip, "nack-generator")
    report = f"node's NACK list: {ours}; aiortc's generator: {theirs}"
    print(report)
    assert ours.sent > 200 and theirs.sent > 200, report
    assert theirs.resent > ours.sent, report  # the storm this is about
    assert ours.resent < 0.6 * theirs.resent, report
    assert ours.most <= MAX_RETRIES, report
