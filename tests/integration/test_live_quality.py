"""Live connection quality on the node: events to the room, the quality API, metrics."""

from __future__ import annotations

import aiohttp

from media.ids import Role
from qos.impairment import Impairment
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from tests.conftest import API_KEY, Clients, RunningNode
from tests.integration.test_forwarding import frame_numbers, has_tracks


def quality_of(client: Client, identity: str) -> str | None:
    told = [e for e in client.events_of(p.ConnectionQuality) if e.identity == identity]
    return told[-1].quality if told else None


async def test_a_lossy_learner_is_reported_poor_and_a_clean_tutor_excellent(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    tutor = clients.new(node, "q", "tutor", Role.TUTOR)
    learner = clients.new(node, "q", "learner", Role.LEARNER,
                          impairment=Impairment(loss_in=0.15, seed=5))
    await tutor.join()
    await learner.join()
    await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    await learner.publish([ClipTrack(clip, "audio")])
    await frame_numbers(await learner.wait_for(has_tracks("tutor")), 5)
    # the learner hears about itself, and the tutor about the learner
    await learner.wait_for(lambda c: quality_of(c, "learner") in ("poor", "fair"), 30)
    await tutor.wait_for(lambda c: quality_of(c, "learner") in ("poor", "fair"), 30)
    await tutor.wait_for(lambda c: quality_of(c, "tutor") == "excellent", 30)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{node.url}/v1/rooms/q/quality", headers=headers) as r:
            body = await r.json()
        async with http.get(f"{node.url}/metrics") as r:
            metrics = await r.text()
    by_identity = {x["identity"]: x for x in body["participants"]}
    assert set(by_identity) == {"tutor", "learner"}
    learner_down = by_identity["learner"]["down"]
    assert learner_down["loss"] > 0.05 and learner_down["rtt_ms"] is not None
    assert by_identity["tutor"]["up"]["loss"] < 0.01
    assert "name" not in str(body) and "127.0.0.1" not in str(body)  # pseudonymous
    assert 'liveroom_quality_loss_ratio_count{direction="down"}' in metrics
    assert 'liveroom_participants_by_quality{quality="excellent"} 1.0' in metrics
