"""RTCP on the fast path (media/feedback.py, media/sender.py): a real node and aiortc
clients. A subscriber's receiver reports and REMBs are read off the socket, never by
aiortc's DTLS transport, and still give the node its counters, the sender's RTT and its
remote-inbound stats; the node's own sender reports, written with struct, are read by the
subscriber's aiortc as its own would be."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport

from media.downlink import DownTrack
from media.ids import Role, RoomId
from signalling.keys import NODE
from tests.conftest import Clients, RunningNode
from tests.integration.test_forwarding import frame_numbers, has_tracks, publish_clip

ROOM = "rtcp-fast"


async def test_subscriber_feedback_skips_aiortcs_rtcp_path_and_keeps_its_results(
    node: RunningNode, clip: Any, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_path: list[RTCDtlsTransport] = []
    handle = RTCDtlsTransport._handle_rtcp_data

    async def spy(self: RTCDtlsTransport, data: bytes) -> None:
        slow_path.append(self)
        await handle(self, data)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtcp_data", spy)
    tutor = await clients.join(node, ROOM, "tutor", Role.TUTOR)
    learner = await clients.join(node, ROOM, "learner", Role.LEARNER)
    await publish_clip(tutor, clip)
    remote = await learner.wait_for(has_tracks("tutor"))
    await frame_numbers(remote, 5)

    media = node.app[NODE].hubs[RoomId(ROOM)].media
    tracks: list[DownTrack] = media.subscriptions()
    assert len(tracks) == 2  # the tutor's audio and video to the learner
    counters = node.app[NODE].counters
    reports, rembs = counters.receiver_reports_received, counters.rembs_received
    async with asyncio.timeout(20):  # a few seconds of feedback (aiortc: RR every ~1 s)
        while (
            counters.receiver_reports_received < reports + 6
            or counters.rembs_received < rembs + 2
            or any(t.sender._RTCRtpSender__rtt is None for t in tracks)
        ):
            await asyncio.sleep(0.2)

    downlink_transports = {id(t.sender.transport) for t in tracks}
    assert not [t for t in slow_path if id(t) in downlink_transports]
    assert slow_path  # the spy works: the clients' own transports went through it
    for track in tracks:
        stats = await track.sender.getStats()
        inbound = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
        assert len(inbound) == 1 and inbound[0].packetsReceived > 0
        assert inbound[0].roundTripTime is not None and 0 <= inbound[0].roundTripTime < 1
        outbound = [s for s in stats.values() if s.type == "outbound-rtp"]
        assert outbound[0].packetsSent == track.sender._RTCRtpSender__packet_count  # type: ignore[attr-defined]
    # the learner's aiortc took the node's sender reports (it answers with their LSR)
    for transceiver in remote.pc.getTransceivers():
        lsr = transceiver.receiver._RTCRtpReceiver__lsr
        assert lsr, f"no sender report reached the learner's {transceiver.kind} receiver"
