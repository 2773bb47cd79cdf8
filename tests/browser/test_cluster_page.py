"""The page in a cluster: sent to a node that does not host its room, it follows
`wrong_node` to the owner; when that node drains, it follows `move` to the room's new node
and takes its seat back with its resume token (two nodes, one real Redis)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
from playwright.async_api import Page, expect

from media.ids import Role, RoomId
from signalling import protocol as p
from signalling.client.clip import Clip
from signalling.client.continuity import ReconnectPolicy
from signalling.keys import NODE
from tests.browser.helpers import ROOM, frames_advance, join, join_url, python_client, tile
from tests.conftest import API_KEY, Clients, RunningNode
from tests.redis_server import RedisServer

NewPage = Callable[..., Awaitable[Page]]
ADMIN = {"Authorization": f"Bearer {API_KEY}"}
STATE = """() => {
    const s = window.liveroom.session;
    return { state: s.state, url: s.signalling?.url,
             downlinks: [...s.peers.downlinks.values()].map(
                 (d) => [d.id, d.publisher, d.pc.connectionState, d.owner.downlink?.id]),
             tiles: [...document.querySelectorAll('.tile')].map((t) => t.outerHTML.slice(0, 300)) };
}"""


async def test_the_page_follows_wrong_node_and_then_a_drains_move(
    node_factory: Callable[..., Awaitable[RunningNode]], redis_server: RedisServer,
    new_page: NewPage, clip: Clip, clients: Clients,
) -> None:
    owner = await node_factory(redis_url=redis_server.url, node_id="owner")
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        async with http.post(f"{owner.url}/v1/rooms", json={"id": ROOM}) as reply:
            assert reply.status == 201  # placed on the only node
    entry = await node_factory(redis_url=redis_server.url, node_id="entry")
    tutor = clients.add(await python_client(entry, "tutor", Role.TUTOR, clip=clip,
                                            reconnect=ReconnectPolicy()))
    page = await new_page()
    await join(page, join_url(entry, "maya", Role.LEARNER, name="Maya"))  # served by entry
    await expect(tile(page, "tutor")).to_have_count(1)
    assert await frames_advance(page, '.tile[data-identity="tutor"] video', 10)
    assert sorted(owner.app[NODE].hubs[RoomId(ROOM)].room.participants) == ["maya", "tutor"]

    drained = time.monotonic()
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        async with http.post(f"{owner.url}/v1/node/drain", json={"deadline_s": 20}) as reply:
            assert reply.status == 202
    await tutor.wait_for(lambda c: c.events_of(p.Move), timeout=10)
    await expect(page.locator("#session-view")).to_be_visible()
    back = await frames_advance(page, '.tile[data-identity="tutor"] video', 10, timeout=15)
    assert back, await page.evaluate(STATE)
    print("page_video_back_after_drain_s", round(time.monotonic() - drained, 3))
    hubs = entry.app[NODE].hubs
    assert ROOM in hubs and sorted(hubs[RoomId(ROOM)].room.participants) == ["maya", "tutor"]
    assert owner.app[NODE].hubs == {}
    assert not tutor.events_of(p.ParticipantLeft)
    await expect(page.locator(".tile")).to_have_count(2)
