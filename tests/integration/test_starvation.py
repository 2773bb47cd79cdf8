"""The node's own starvation is not a client's silence (issue 16).

A tutor publishes to a learner; the node's event loop is blocked for 3 s by a call planted
on it (the clients run on another loop and keep sending). Nobody is declared stalled,
reconnecting or gone, every peer connection stays up, and media resumes. The block is
planted anywhere (a call on the loop), and just after the node's tick timer fires: then
the tick runs before the publisher's queued packets are read, and saw 3 s of "silence"
before the node measured its own lag.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.ids import Identity, Kind, Role
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip
from tests.conftest import Clients
from tests.integration.own_loop import NodeOnItsOwnLoop
from tests.integration.test_forwarding import ROOM, has_tracks, publish_clip

BLOCK_S = 3.0


@pytest.fixture
async def own_loop(tmp_path: Path) -> AsyncIterator[NodeOnItsOwnLoop]:
    node = NodeOnItsOwnLoop(tmp_path)
    try:
        yield node
    finally:
        await asyncio.get_running_loop().run_in_executor(None, node.stop)


def video_after(client: Client, publisher: str, t: float) -> int:
    downlink = client.downlink_from(publisher)
    if downlink is None:
        return 0
    return sum(1 for r in downlink.packets.get(Kind.VIDEO, []) if r.at >= t)


@pytest.mark.parametrize("where", ["anywhere", "before_tick"])
async def test_a_node_blocked_for_3_s_declares_nobody_stalled_and_media_resumes(
    own_loop: NodeOnItsOwnLoop, clip: Clip, where: str, clients: Clients
) -> None:
    running = await asyncio.get_running_loop().run_in_executor(None, own_loop.start)
    tutor = await clients.join(running, ROOM, "tutor", Role.TUTOR)
    learner = await clients.join(running, ROOM, "learner", Role.LEARNER, record_packets=True)
    await publish_clip(tutor, clip)
    await learner.wait_for(has_tracks("tutor"), timeout=15)
    async with asyncio.timeout(15):
        while video_after(learner, "tutor", time.monotonic() - 1.0) < 20:
            await asyncio.sleep(0.1)
    node = own_loop.node
    tutor_uplink = node.hubs[ROOM].media.uplinks[Identity("tutor")]  # type: ignore[index]

    blocked_at = time.monotonic()
    if where == "anywhere":
        own_loop.block(BLOCK_S)
    else:
        own_loop.block_before_tick(BLOCK_S)
    await asyncio.sleep(BLOCK_S + 4.0)  # past the block, the 2 s stall limit and ticks

    resumed = video_after(learner, "tutor", blocked_at + BLOCK_S + 1.0)
    assert resumed > 20, f"only {resumed} video packets after the block"
    for client in (tutor, learner):
        assert client.events_of(p.ParticipantReconnecting) == []
        assert client.events_of(p.ParticipantLeft) == []
        assert client.close_code is None
    room = node.hubs[ROOM].room  # type: ignore[index]
    for identity in ("tutor", "learner"):
        assert room.get(Identity(identity)).reconnecting_since is None
    assert tutor_uplink is node.hubs[ROOM].media.uplinks[Identity("tutor")]  # type: ignore[index]
    assert tutor_uplink.connectionState == "connected"
    assert tutor.uplink is not None and tutor.uplink.connectionState == "connected"
    for downlink in learner.downlinks.values():
        assert downlink.pc.connectionState == "connected"
    assert node.loop_lag.last < BLOCK_S  # the tick has run since
    assert node.loop_lag.starved_until is not None
    assert node.loop_lag.starved_until >= blocked_at  # the node knew it was starved
