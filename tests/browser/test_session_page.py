"""The session page: accessibility (axe, keyboard only), layout from 1:1 to 1 + 7, events."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from pydantic import BaseModel, ConfigDict

from media.ids import Identity, Kind, Role, RoomId
from signalling import protocol as p
from signalling.client import Client, RemoteDownlink
from signalling.client.clip import Clip
from signalling.keys import NODE
from tests.browser.helpers import (
    ROOM,
    downlink_with_tracks,
    frames_advance,
    join,
    join_url,
    open_join_page,
    python_client,
    tile,
    video_frames,
)
from tests.browser.test_join_page import WCAG_21_AA
from tests.conftest import API_KEY, Clients, RunningNode

NewPage = Callable[..., Awaitable[Page]]
RATED = re.compile("^(good|fair|poor)$")


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement?.id ?? ''"))


async def has_focus_ring(page: Page) -> bool:
    return bool(await page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""
    ))


async def test_a_session_of_three_has_no_axe_violations_and_looks_right(
    node: RunningNode, new_page: NewPage, clip: Clip, artifacts: Path, clients: Clients
) -> None:
    clients.add(await python_client(
        node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip, subscribe=False))
    sam = clients.add(await python_client(
        node, "sam", Role.LEARNER, name="Sam Okafor", clip=clip, subscribe=False))
    await sam.mute(Kind.VIDEO, True)  # camera off: the others see a placeholder
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    await expect(page.locator(".tile")).to_have_count(3)
    await expect(tile(page, "tutor")).to_have_attribute("data-camera", "on")
    await expect(tile(page, "tutor").locator(".badge")).to_have_text("Tutor")
    await expect(tile(page, "sam")).to_have_attribute("data-camera", "off")
    await expect(tile(page, "sam").locator(".avatar")).to_have_text("SO")
    for identity in ("tutor", "sam", "maya"):  # rated (the rating itself depends on load)
        await expect(tile(page, identity)).to_have_attribute("data-quality", RATED)
    await expect(tile(page, "tutor")).to_have_attribute("data-speaking", "true")
    assert await video_frames(page, '.tile[data-identity="tutor"] video', 1.0) >= 10
    # the tutor's tile comes first
    boxes = {i: await tile(page, i).bounding_box() for i in ("tutor", "sam", "maya")}
    assert boxes["tutor"] and boxes["maya"] and boxes["tutor"]["x"] < boxes["maya"]["x"]

    results = await Axe().run(page, options=WCAG_21_AA)
    await page.screenshot(path=str(artifacts / "session-3.png"))
    assert results.violations_count == 0, results.generate_report()


async def test_keyboard_alone_joins_mutes_unmutes_and_leaves(
    node: RunningNode, new_page: NewPage, clients: Clients
) -> None:
    tutor = clients.add(await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera"))
    page = await new_page()
    await open_join_page(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    order = []
    for _ in range(4):
        await page.keyboard.press("Tab")
        order.append(await focused_id(page))
        assert await has_focus_ring(page), f"no visible focus on #{order[-1]}"
        if order[-1] == "join-button":
            break
    assert order == ["camera-select", "mic-select", "join-button"]
    await page.keyboard.press("Enter")
    await expect(page.locator("#session-view")).to_be_visible()
    assert await focused_id(page) == "session-title"

    await page.keyboard.press("Tab")
    assert await focused_id(page) == "mic-button"
    assert await has_focus_ring(page)
    await tutor.wait_for(lambda c: c.downlink_from("maya"))
    await page.keyboard.press("Enter")
    await expect(page.locator("#mic-button")).to_have_accessible_name("Unmute microphone")
    await tutor.wait_for(lambda c: any(
        e.muted and e.publication.kind == Kind.AUDIO for e in c.events_of(p.TrackMuted)))
    await page.keyboard.press("Space")
    await expect(page.locator("#mic-button")).to_have_accessible_name("Mute microphone")
    await tutor.wait_for(lambda c: any(
        not e.muted and e.publication.kind == Kind.AUDIO for e in c.events_of(p.TrackMuted)))
    await expect(page.locator("#announcer")).to_contain_text("Your microphone is on.")

    await page.keyboard.press("Tab")
    assert await focused_id(page) == "camera-button"
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "leave-button"
    assert await has_focus_ring(page)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="You left the session")).to_be_visible()
    await tutor.wait_for(lambda c: any(
        e.identity == "maya" and e.reason == "left" for e in c.events_of(p.ParticipantLeft)))


async def test_a_tutor_and_seven_learners_fit_on_a_laptop_and_a_phone(
    node: RunningNode, new_page: NewPage, clip: Clip, artifacts: Path, clients: Clients
) -> None:
    clients.add(await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip,
                                    subscribe=False))
    for n in range(1, 7):  # two learners with media, four without (placeholders)
        clients.add(await python_client(
            node, f"learner-{n}", name=f"Learner {n}", clip=clip if n <= 2 else None,
            subscribe=False))
    page = await new_page(width=1280, height=800)
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    await expect(page.locator(".tile")).to_have_count(8)
    await expect(tile(page, "learner-2")).to_have_attribute("data-camera", "on")

    async def layout() -> dict[str, float]:
        return dict(await page.evaluate(
            """() => {
                const tiles = [...document.querySelectorAll('.tile')].map(
                    (t) => t.getBoundingClientRect());
                const list = document.querySelector('#tiles');
                const grid = getComputedStyle(list);
                const controls = document.querySelector('.controls').getBoundingClientRect();
                return {
                    columns: grid.gridTemplateColumns.split(' ').length,
                    narrowest: Math.min(...tiles.map((r) => r.width)),
                    overflowX: document.documentElement.scrollWidth - innerWidth,
                    controlsBottom: controls.bottom - innerHeight,
                    hiddenTiles: list.scrollHeight - list.clientHeight,
                };
            }"""
        ))

    laptop = await layout()
    await page.screenshot(path=str(artifacts / "session-8.png"))
    assert laptop["columns"] == 4 and laptop["narrowest"] >= 250, laptop
    assert laptop["overflowX"] <= 0 and laptop["controlsBottom"] <= 0, laptop
    assert laptop["hiddenTiles"] <= 1, laptop  # all eight on screen, no scrolling

    await page.set_viewport_size({"width": 390, "height": 844})
    phone = await layout()
    assert phone["overflowX"] <= 0 and phone["controlsBottom"] <= 0, phone
    assert phone["narrowest"] >= 300, phone  # one column of usable tiles (it scrolls)
    await expect(page.get_by_role("button", name="Leave session")).to_be_in_viewport()


def video_muted(client: Client, owner: str) -> bool | None:
    """Whether `owner`'s video is muted, by the latest event `client` received about it."""
    state = None
    for event in client.events:
        if isinstance(event, p.TrackPublished | p.TrackMuted):
            if event.publication.owner == owner and event.publication.kind == Kind.VIDEO:
                state = event.publication.muted
    return state


class NodeEvent(BaseModel):
    """An event this node version does not send yet (or never will)."""

    model_config = ConfigDict(extra="allow")
    type: str


async def test_presence_and_recording_events_update_the_page_and_unknown_ones_are_ignored(
    node: RunningNode, new_page: NewPage, clients: Clients
) -> None:
    sam = clients.add(await python_client(node, "sam", Role.LEARNER, name="Sam"))
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    announcements = page.locator("#announcer")
    await expect(tile(page, "sam")).to_be_visible()

    await sam.close()  # a lost connection: the node holds Sam's seat
    await expect(tile(page, "sam")).to_have_attribute("data-reconnecting", "true")
    await expect(tile(page, "sam").locator(".chip-reconnecting")).to_have_text("Reconnecting…")
    await expect(announcements).to_contain_text("Sam has connection problems and is reconnecting.")
    # back on a new socket
    sam = clients.add(await python_client(node, "sam", Role.LEARNER, name="Sam"))
    await expect(tile(page, "sam")).to_have_attribute("data-reconnecting", "false")
    await expect(announcements).to_contain_text("Sam is back.")

    # through the real socket: recording events, and one no version of the page knows
    connection = node.app[NODE].hubs[RoomId(ROOM)].connections[Identity("maya")]
    connection.send(NodeEvent.model_validate(  # type: ignore[arg-type]
        {"type": "something_from_the_future", "detail": {"x": 1}}))
    connection.send(NodeEvent(type="recording_started"))  # type: ignore[arg-type]
    banner = page.locator("#recording-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("This session is being recorded.")
    await expect(announcements).to_contain_text("Recording started.")
    connection.send(p.RecordingStarted(recorded=["sam"]))  # Maya has no consent
    await expect(banner).to_contain_text("You are not being recorded.")
    connection.send(p.RecordingStarted(recorded=["maya", "sam"]))
    await expect(banner).to_contain_text("including your camera and microphone")
    connection.send(p.RecordingStopped())
    await expect(banner).to_be_hidden()
    await expect(announcements).to_contain_text("Recording stopped.")

    # the node's audio-only fallback paused Sam's video for this page, then retries it
    paused = tile(page, "sam").locator(".chip-video-paused")
    await expect(paused).to_be_hidden()
    connection.send(p.VideoPaused(publisher="sam", paused=True))
    await expect(paused).to_be_visible()
    await expect(paused).to_contain_text("Video paused: your connection is too slow")
    await expect(announcements).to_contain_text(
        "Your connection is too slow for Sam's video. You can still hear them.")
    connection.send(p.VideoPaused(publisher="sam", paused=False))
    await expect(paused).to_be_hidden()
    # events still flow
    lee = clients.add(await python_client(node, "lee", Role.LEARNER, name="Lee"))
    await expect(tile(page, "lee")).to_be_visible()
    await expect(announcements).to_contain_text("Lee joined.")
    await lee.close()

    # the same identity joins elsewhere: this page gives the seat up and says why
    elsewhere = clients.add(await python_client(node, "maya", Role.LEARNER, name="Maya"))
    ended = page.get_by_role("heading", name="You joined from somewhere else")
    await expect(ended).to_be_visible()
    await elsewhere.close()


async def test_lost_connections_show_reconnecting_and_the_page_takes_its_seat_back(
    node: RunningNode, new_page: NewPage, clip: Clip, clients: Clients
) -> None:
    tutor = clients.add(await python_client(
        node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip, record_packets=True))
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    await expect(tile(page, "tutor")).to_have_attribute("data-camera", "on")
    downlink: RemoteDownlink = await tutor.wait_for(downlink_with_tracks("maya"))
    await page.get_by_role("button", name="Turn camera off").click()
    await tutor.wait_for(lambda c: video_muted(c, "maya") is True)
    banner = page.locator("#reconnecting-banner")
    alerts = page.locator("#alerter")
    await page.evaluate(
        """() => {
            const banner = document.querySelector('#reconnecting-banner');
            window.bannerShown = false;
            new MutationObserver(() => { if (!banner.hidden) window.bannerShown = true; })
                .observe(banner, { attributes: true });
        }"""
    )

    # 1. the node's end of the WebSocket drops
    node.app[NODE].hubs[RoomId(ROOM)].connections[Identity("maya")].close(
        1011, "test: connection lost")
    await page.wait_for_function("() => window.bannerShown === true", timeout=5000)
    await expect(alerts).to_contain_text("Connection lost. Reconnecting…")
    await expect(alerts).to_contain_text("Reconnected.", timeout=15_000)
    await expect(banner).to_be_hidden()
    await tutor.wait_for(lambda c: c.events_of(p.ParticipantReconnecting)
                         and c.events_of(p.ParticipantResumed))
    assert not tutor.events_of(p.ParticipantLeft), "the seat was held, not given up"
    # media flows again both ways; the camera stays off for everyone until turned on
    await expect(tile(page, "tutor")).to_have_attribute("data-camera", "on")
    assert await frames_advance(page, '.tile[data-identity="tutor"] video', 10)
    # the page re-published on its new connection: quietly, the camera still off
    assert not tutor.events_of(p.TrackUnpublished)
    await tutor.wait_for(lambda c: video_muted(c, "maya") is True)
    assert tutor.downlink_from("maya") is downlink  # the others' streams just continue
    count = len(downlink.packets[Kind.VIDEO])
    await page.get_by_role("button", name="Turn camera on").click()
    await tutor.wait_for(lambda c: len(downlink.packets[Kind.VIDEO]) > count + 20)

    # 2. the page's publish connection stops working (its node end goes away): nothing
    # arrives on it any more, and after 2 s the page rebuilds everything
    await page.evaluate("window.bannerShown = false")
    await node.app[NODE].hubs[RoomId(ROOM)].media.uplinks[Identity("maya")].close()
    await page.wait_for_function("() => window.bannerShown === true", timeout=8000)
    await expect(alerts.locator("p", has_text="Reconnected.")).to_have_count(2,
                                                                        timeout=15_000)
    await expect(banner).to_be_hidden()
    count = len(downlink.packets[Kind.VIDEO])
    await tutor.wait_for(lambda c: len(downlink.packets[Kind.VIDEO]) > count + 20)

    # 3. the room is closed through the API: the page says the session has ended
    response = await page.request.delete(
        f"{node.url}/v1/rooms/{ROOM}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status == 204
    await expect(page.get_by_role("heading", name="The session has ended")).to_be_visible()
