"""Node-level behaviour: metrics, the aiortc self-check, room lifecycle, leave."""

from __future__ import annotations

import asyncio

import aiohttp
import aiortc
import pytest

import media.aiortc_compat as compat
from media.ids import Role, RoomId
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from signalling.keys import NODE
from tests.conftest import Clients, RunningNode
from tests.integration.test_forwarding import frame_numbers, has_tracks


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            if line.split(" ")[0] == name or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


async def sender_reports(pc: object) -> list[object]:
    found = []
    for transceiver in pc.getTransceivers():  # type: ignore[attr-defined]
        stats = await transceiver.receiver.getStats()
        found += [s for s in stats.values() if s.type == "remote-outbound-rtp"]
    return found


async def test_metrics_count_rooms_participants_and_forwarding(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    tutor = clients.new(node, "m", "tutor", Role.TUTOR)
    learner = clients.new(node, "m", "learner", Role.LEARNER)
    await tutor.join()
    await learner.join()
    await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    await frame_numbers(await learner.wait_for(has_tracks("tutor")), 15)
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/metrics") as r:
        text = await r.text()
    assert metric(text, "liveroom_rooms") == 1
    assert metric(text, "liveroom_participants") == 2
    assert metric(text, 'liveroom_publications{kind="video"}') == 1
    assert metric(text, 'liveroom_subscriptions{kind="audio"}') == 1
    assert metric(text, 'liveroom_forwarded_packets_total{kind="video"}') > 15
    assert metric(text, 'liveroom_forwarded_bytes_total{kind="audio"}') > 0
    # present even when the first packet was a keyframe and no request was needed
    assert metric(text, 'liveroom_keyframe_requests_total{direction="to_publishers"}') >= 0
    assert 'liveroom_nacks_total{outcome="received"}' in text
    # the subscriber got valid RTCP sender reports for the forwarded streams
    downlink = learner.downlink_from("tutor")
    assert downlink is not None
    reports: list[object] = []
    for _ in range(30):  # SRs go out every 0.5-1.5 s
        reports = await sender_reports(downlink.pc)
        if len(reports) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(reports) == 2 and all(r.packetsSent > 0 for r in reports)  # type: ignore[attr-defined]


async def test_leave_tells_the_room_and_frees_the_seat(node: RunningNode, clip: Clip) -> None:
    tutor = Client(node.url, "l", node.token("l", "tutor", Role.TUTOR))
    learner = Client(node.url, "l", node.token("l", "learner", Role.LEARNER))
    await tutor.join()
    await learner.join()
    await learner.publish([ClipTrack(clip, "video")])
    await tutor.wait_for(lambda c: c.downlink_from("learner"))
    await learner.leave()
    left = await tutor.wait_for(lambda c: c.events_of(p.ParticipantLeft))
    assert left[0].identity == "learner" and left[0].reason == "left"
    assert tutor.events_of(p.TrackUnpublished)
    await tutor.wait_for(lambda c: c.downlink_from("learner") is None)
    assert set(node.app[NODE].hubs[RoomId("l")].room.participants) == {"tutor"}
    await tutor.close()


async def test_an_empty_room_closes_after_its_grace_period(node_factory: object) -> None:
    node = await node_factory(room_empty_grace_s=0.2)  # type: ignore[operator]
    client = Client(node.url, "brief", node.token("brief", "t", Role.TUTOR))
    await client.join()
    await client.leave()
    hubs = node.app[NODE].hubs
    for _ in range(50):  # the node ticks once a second
        if "brief" not in hubs:
            break
        await asyncio.sleep(0.1)
    assert "brief" not in hubs


async def test_self_check_fails_loudly_when_aiortc_internals_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await compat.self_check()
    monkeypatch.setattr(compat, "SENDER_ATTRS", (*compat.SENDER_ATTRS, "_RTCRtpSender__gone"))
    with pytest.raises(compat.AiortcCompatError, match="__gone"):
        await compat.self_check()
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(compat.AiortcCompatError, match=r"1\.17\.0"):
        await compat.self_check()
