"""A page reload rejoins the same seat by itself: nobody sees the learner leave or appear
twice (the page tells the node it unloads, which then holds the seat only briefly)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from media.ids import Role
from signalling import protocol as p
from signalling.client.clip import Clip
from signalling.keys import NODE
from tests.browser.helpers import (
    ROOM,
    downlink_with_tracks,
    frames_advance,
    join,
    join_url,
    python_client,
    tile,
)
from tests.conftest import Clients, RunningNode

NewPage = Callable[..., Awaitable[Page]]


async def test_a_reloaded_page_takes_its_seat_back(
    node: RunningNode, new_page: NewPage, clip: Clip, clients: Clients
) -> None:
    tutor = clients.add(await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip))
    page = await new_page()
    url = join_url(node, "maya", Role.LEARNER, name="Maya")
    await join(page, url)
    await tutor.wait_for(downlink_with_tracks("maya"))
    reloaded = time.monotonic()
    await page.reload()
    # a reload of a tab that was in the session joins again by itself (main.js)
    await expect(page.locator("#session-view")).to_be_visible()
    print("reload_rejoined_s", round(time.monotonic() - reloaded, 3))
    await expect(tile(page, "tutor")).to_have_count(1)
    assert await frames_advance(page, '.tile[data-identity="tutor"] video', 10)
    # the tutor receives maya again and never saw her leave
    await tutor.wait_for(lambda c: [e for e in c.events_of(p.ParticipantResumed)
                                    if e.identity == "maya"] or
                         len(c.events_of(p.ParticipantJoined)) == 1, timeout=10)
    assert not tutor.events_of(p.ParticipantLeft)
    assert len([e for e in tutor.events_of(p.ParticipantJoined)
                if e.participant.identity == "maya"]) == 1
    room = node.app[NODE].hubs[ROOM].room  # type: ignore[index]
    assert sorted(room.participants) == ["maya", "tutor"]
    await expect(page.locator(".tile")).to_have_count(2)  # the tutor and maya, once each
