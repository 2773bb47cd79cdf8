"""The join page: who is joining, the preview, devices, and every way joining can fail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import jwt
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from media.ids import Role
from tests.browser.conftest import BrowserFactory
from tests.browser.helpers import ROOM, join_url, open_join_page, python_client, video_frames
from tests.conftest import Clients, RunningNode

NewPage = Callable[..., Awaitable[Page]]
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


async def test_join_page_shows_who_is_joining_a_live_preview_and_device_choices(
    node: RunningNode, new_page: NewPage
) -> None:
    page = await new_page()
    response = await page.request.get(f"{node.url}/join")
    assert response.headers["referrer-policy"] == "no-referrer"  # the token is in the URL
    await open_join_page(page, join_url(node, "tutor-7", Role.TUTOR, name="Ms Reed"))
    await expect(page.locator("#join-name")).to_have_text("Ms Reed")
    await expect(page.locator("#join-role")).to_have_text("Tutor")
    await expect(page.locator("#join-room")).to_have_text(ROOM)
    assert await video_frames(page, "#preview", 1.0) >= 5
    camera = page.get_by_label("Camera", exact=True)
    microphone = page.get_by_label("Microphone", exact=True)
    await expect(camera).to_be_enabled()
    await expect(microphone).to_be_enabled()
    assert await camera.locator("option").count() >= 1
    assert await microphone.locator("option").count() >= 1
    # choosing a device restarts the preview with it
    options = await microphone.locator("option").evaluate_all("os => os.map(o => o.value)")
    await microphone.select_option(options[-1])
    await expect(page.locator("#join-view")).to_have_attribute("data-state", "ready")
    await expect(page.get_by_role("button", name="Join session")).to_be_enabled()
    assert await video_frames(page, "#preview", 1.0) >= 5
    await expect(page.locator("#join-message")).to_be_empty()


async def test_join_page_has_no_axe_violations(node: RunningNode, new_page: NewPage) -> None:
    page = await new_page()
    await open_join_page(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    results = await Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()
    # the scanner does see this page: a planted unlabelled field is reported
    await page.evaluate("document.forms[0].append(document.createElement('input'))")
    planted = await Axe().run(page, options=WCAG_21_AA)
    assert "label" in planted.generate_snapshot()


async def test_blocked_camera_says_how_to_allow_it_and_offers_to_join_without(
    node: RunningNode, launch: BrowserFactory, new_page: NewPage
) -> None:
    # no fake UI: the permission prompt is dismissed, getUserMedia fails with NotAllowedError
    page = await new_page(await launch(fake_ui=False))
    await open_join_page(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    message = page.get_by_role("alert")
    await expect(message).to_contain_text("Camera and microphone are blocked.")
    await expect(message).to_contain_text("allow the camera and microphone")
    await expect(page.get_by_role("button", name="Try camera and microphone again")).to_be_visible()
    join_button = page.get_by_role("button", name="Join without camera and microphone")
    await join_button.click()
    await expect(page.locator("#session-view")).to_be_visible()
    await expect(page.locator('.tile[data-identity="maya"]')).to_have_attribute("data-mic", "none")
    await expect(page.get_by_role("button", name="No microphone")).to_have_attribute(
        "aria-disabled", "true")


async def test_no_camera_or_microphone_is_explained(
    node: RunningNode, launch: BrowserFactory, new_page: NewPage
) -> None:
    page = await new_page(await launch(fake_devices=False))  # this machine has none
    await open_join_page(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    await expect(page.get_by_role("alert")).to_contain_text("No camera or microphone found.")
    await expect(page.get_by_label("Camera", exact=True)).to_have_text("No camera found")
    join_button = page.get_by_role("button", name="Join without camera and microphone")
    await expect(join_button).to_be_visible()


# every stream the page gets from getUserMedia, to see whether it asked and let go
TRACK_STREAMS = """
window.__streams = [];
const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (c) => {
  const s = await gum(c); window.__streams.push(s); return s;
};
"""
STREAMS_ASKED = "window.__streams.length"
ALL_RELEASED = "window.__streams.every(s => s.getTracks().every(t => t.readyState === 'ended'))"


async def test_a_refused_join_is_explained_and_lets_go_of_the_camera(
    node_factory: Callable[..., Awaitable[RunningNode]], new_page: NewPage, clients: Clients
) -> None:
    node = await node_factory(max_participants=1)
    page = await new_page()
    await page.add_init_script(TRACK_STREAMS)

    async def refused(url: str, text: str) -> None:
        await open_join_page(page, url)
        await page.get_by_role("button", name="Join session").click()
        await expect(page.get_by_role("alert")).to_contain_text(text)
        await expect(page.locator("#join-view")).to_be_visible()
        assert await page.evaluate(STREAMS_ASKED) >= 1
        assert await page.evaluate(ALL_RELEASED), "the camera stays on after a refusal"

    forged = jwt.encode(
        {**jwt.decode(node.token(ROOM, "maya", Role.LEARNER), options={"verify_signature": False})},
        "not-the-node-secret-0123456789abcdef", "HS256",
    )
    await refused(f"{node.url}/join?token={forged}", "This join link is not valid.")
    await expect(page.get_by_role("button", name="Join session")).to_have_attribute(
        "aria-disabled", "true")
    seated = clients.add(await python_client(node, "tutor", Role.TUTOR))
    await refused(join_url(node, "maya"), "This session is full.")
    # a full room may free up: the page offers to try again, camera back on first
    again = page.get_by_role("button", name="Try again")
    await expect(again).not_to_have_attribute("aria-disabled", "true")
    await again.click()
    await expect(page.get_by_role("alert")).to_contain_text("This session is full.")
    assert await page.evaluate(STREAMS_ASKED) >= 2  # asked again for the new try
    assert await page.evaluate(ALL_RELEASED)
    await seated.close()

    await page.goto(f"{node.url}/join?token=not-a-token")
    await expect(page.get_by_role("alert")).to_contain_text("This join link is not valid.")
    await page.goto(f"{node.url}/join")
    await expect(page.get_by_role("alert")).to_contain_text("This page needs a join link.")


async def test_an_expired_link_is_refused_before_any_camera_prompt(
    node: RunningNode, new_page: NewPage
) -> None:
    page = await new_page()
    await page.add_init_script(TRACK_STREAMS)
    expired = node.token(ROOM, "maya", Role.LEARNER, ttl_s=-120)
    await page.goto(f"{node.url}/join?token={expired}")
    await expect(page.get_by_role("alert")).to_contain_text("This join link has expired.")
    await expect(page.locator("#join-view")).to_have_attribute("data-state", "invalid")
    await expect(page.get_by_role("button", name="Join session")).to_be_hidden()
    assert await page.evaluate(STREAMS_ASKED) == 0
    # a link that is still valid asks for the camera as before
    await open_join_page(page, join_url(node, "maya"))
    assert await page.evaluate(STREAMS_ASKED) == 1


async def test_the_node_root_page_says_what_it_is_and_passes_axe(
    node: RunningNode, new_page: NewPage
) -> None:
    page = await new_page()
    response = await page.goto(f"{node.url}/")
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text("This is a Liveroom node")
    await expect(page.locator("body")).to_contain_text("join link")
    docs = page.get_by_role("link", name="the operator's guides")
    await docs.click()
    await expect(page.get_by_role("link", name="operations.md")).to_be_visible()
    await page.goto(f"{node.url}/")
    results = await Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()
