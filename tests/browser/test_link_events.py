"""The page reacts to what the browser knows about its link (issue 17): the `offline` event
shows "Connection lost" at once, the others' tiles keep their last frame while it
reconnects, `online` keeps the connections that come back (or rebuilds at once those that
do not), and "Poor" does not outlast the outage; a closed tab
tells the node, so the others see it leave within seconds.

The cut here is not a real one (tests/integration/test_link_cut.py cuts a real link for the
Python client): Chromium's offline emulation (`BrowserContext.set_offline`) fails new
requests but does not stop the WebRTC traffic already flowing, and in the loopback-only
namespace Chromium always reports `navigator.onLine === false` and fires no `offline` or
`online` event of its own, so the test fires them as Chromium does on a real link change.
Figures are printed.
"""


from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from media.ids import Role
from signalling import protocol as p
from signalling.client.clip import Clip
from tests.browser.helpers import (
    downlink_with_tracks,
    frames_advance,
    join,
    join_url,
    python_client,
    tile,
)
from tests.conftest import Clients, RunningNode

NewPage = Callable[..., Awaitable[Page]]
TUTOR_VIDEO = '.tile[data-identity="tutor"] video'
OFFLINE = "() => window.dispatchEvent(new Event('offline'))"
ONLINE = "() => window.dispatchEvent(new Event('online'))"

# Whether the tutor's tile shows a picture that is not black (drawn on a canvas, a few
# pixels sampled): the video's frame if it has one, else its poster (the frozen frame).
SHOWS_PICTURE = """async (selector) => {
    const video = document.querySelector(selector);
    let source = video;
    if (video.srcObject === null || video.videoWidth === 0) {
        if (!video.poster) return false;
        source = new Image();
        source.src = video.poster;
        await source.decode();
    }
    const canvas = document.createElement('canvas');
    canvas.width = 32;
    canvas.height = 24;
    const context = canvas.getContext('2d');
    context.drawImage(source, 0, 0, 32, 24);
    const pixels = context.getImageData(0, 0, 32, 24).data;
    let lit = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 60) lit += 1;
    }
    return lit > 20;
}"""


async def test_offline_shows_the_banner_at_once_keeps_the_last_frame_and_online_recovers(
    node: RunningNode, new_page: NewPage, clip: Clip, clients: Clients
) -> None:
    tutor = clients.add(await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip))
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    await tutor.wait_for(downlink_with_tracks("maya"))
    assert await frames_advance(page, TUTOR_VIDEO, 10)
    await expect(tile(page, "tutor")).not_to_have_attribute("data-quality", "unknown",
                                                            timeout=5000)
    assert await page.evaluate(SHOWS_PICTURE, TUTOR_VIDEO)
    banner = page.locator("#reconnecting-banner")

    cut = time.monotonic()
    await page.context.set_offline(True)  # new requests (the rejoin) fail
    await page.evaluate(OFFLINE)
    await expect(banner).to_be_visible(timeout=1000)
    banner_s = time.monotonic() - cut
    await expect(page.locator("#reconnecting-text")).to_have_text(
        "Connection lost. Reconnecting…")
    # while reconnecting, the tutor's tile keeps its last frame, marked reconnecting
    await expect(tile(page, "tutor")).to_have_attribute("data-reconnecting", "true")
    await page.wait_for_timeout(1500)
    assert await page.evaluate(SHOWS_PICTURE, TUTOR_VIDEO), "no picture while reconnecting"
    assert await tile(page, "tutor").get_attribute("data-quality") != "unknown"

    restored = time.monotonic()
    await page.context.set_offline(False)
    await page.evaluate(ONLINE)  # the page retries at once, not after its retry wait
    await expect(banner).to_be_hidden(timeout=5000)
    back_s = time.monotonic() - restored
    assert await frames_advance(page, TUTOR_VIDEO, 5)
    frames_s = time.monotonic() - restored
    await expect(tile(page, "tutor")).to_have_attribute("data-reconnecting", "false")
    # the rating is said as soon as media is back: no "Poor" or "Checking" left over
    await expect(tile(page, "tutor")).to_have_attribute("data-quality", "good",
                                                        timeout=2500)
    rated_s = time.monotonic() - restored
    print("offline_emulation", {"banner_s": round(banner_s, 3),
                                "signalling_back_s": round(back_s, 3),
                                "frames_s": round(frames_s, 3),
                                "rated_good_s": round(rated_s, 3)})
    assert not [e for e in tutor.events_of(p.ParticipantLeft) if e.identity == "maya"]


async def test_a_closed_tab_is_seen_as_left_within_seconds(
    node: RunningNode, new_page: NewPage, clip: Clip, clients: Clients
) -> None:
    tutor = clients.add(await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip))
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    await tutor.wait_for(downlink_with_tracks("maya"))
    closed = time.monotonic()
    await page.close()
    left = await tutor.wait_for(
        lambda c: [e for e in c.events_of(p.ParticipantLeft) if e.identity == "maya"],
        timeout=10)
    left_s = time.monotonic() - closed
    print("closed_tab", {"left_s": round(left_s, 3), "reason": left[0].reason})
    assert left[0].reason == "left"
    assert left_s < 8.0  # the node's unload grace (5 s) and its presence check
