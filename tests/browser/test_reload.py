"""A page reload rejoins the same seat: nobody sees the learner leave or appear twice."""

from __future__ import annotations

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
from tests.conftest import RunningNode

NewPage = Callable[..., Awaitable[Page]]


async def test_a_reloaded_page_takes_its_seat_back(
    node: RunningNode, new_page: NewPage, clip: Clip
) -> None:
    tutor = await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip)
    try:
        page = await new_page()
        url = join_url(node, "maya", Role.LEARNER, name="Maya")
        await join(page, url)
        await tutor.wait_for(downlink_with_tracks("maya"))
        await page.reload()
        await expect(page.get_by_role("button", name="Join session")).to_be_visible()
        await page.get_by_role("button", name="Join session").click()
        await expect(page.locator("#session-view")).to_be_visible()
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
    finally:
        await tutor.close()
