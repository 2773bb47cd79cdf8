"""Helpers for the browser tests: join links, joining, and measuring what a page plays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import Locator, Page, expect

from media.ids import Role
from signalling.client import Client, RemoteDownlink
from signalling.client.clip import Clip, ClipTrack
from signalling.tokens import TokenGrants
from tests.conftest import RunningNode

ROOM = "reading-1"


def join_url(
    node: RunningNode, identity: str, role: Role = Role.LEARNER, name: str = "",
    room: str = ROOM, **claims: Any,
) -> str:
    token = node.token(room, identity, role, name=name or identity, **claims)
    return f"{node.url}/join?token={token}"


async def open_join_page(page: Page, url: str) -> None:
    """Open a join link and wait until the join button can be used."""
    await page.goto(url)
    await expect(page.locator("#join-view")).to_have_attribute("data-state", "ready")


async def join(page: Page, url: str) -> None:
    """Open a join link, press "Join session" and wait for the session view."""
    await open_join_page(page, url)
    await page.get_by_role("button", name="Join session").click()
    await expect(page.locator("#session-view")).to_be_visible()


def tile(page: Page, identity: str) -> Locator:
    return page.locator(f'.tile[data-identity="{identity}"]')


async def video_frames(page: Page, selector: str, seconds: float) -> int:
    """Frames `selector`'s video presented in `seconds` (requestVideoFrameCallback)."""
    return int(await page.evaluate(
        """async ([selector, ms]) => {
            const video = document.querySelector(selector);
            let frames = 0;
            const count = () => { frames += 1; video.requestVideoFrameCallback(count); };
            video.requestVideoFrameCallback(count);
            await new Promise((resolve) => setTimeout(resolve, ms));
            return frames;
        }""",
        [selector, seconds * 1000],
    ))


async def frames_advance(page: Page, selector: str, frames: int, timeout: float = 8.0) -> bool:
    """True once `selector`'s video has presented `frames` new frames (False at `timeout`)."""
    return bool(await page.evaluate(
        """async ([selector, wanted, ms]) => {
            const video = document.querySelector(selector);
            return await new Promise((resolve) => {
                let frames = 0;
                const timer = setTimeout(() => resolve(false), ms);
                const count = () => {
                    frames += 1;
                    if (frames >= wanted) { clearTimeout(timer); resolve(true); }
                    else video.requestVideoFrameCallback(count);
                };
                video.requestVideoFrameCallback(count);
            });
        }""",
        [selector, frames, timeout * 1000],
    ))


async def inbound_audio(page: Page, identity: str) -> dict[str, float]:
    """The audio inbound-rtp figures of the downlink from `identity`."""
    return dict(await page.evaluate(
        """async (identity) => {
            const participant = window.liveroom.session.participants.get(identity);
            const report = await participant.downlink.pc.getStats();
            for (const s of report.values()) {
                if (s.type === 'inbound-rtp' && s.kind === 'audio') {
                    return {packets: s.packetsReceived ?? 0, level: s.audioLevel ?? 0,
                            energy: s.totalAudioEnergy ?? 0};
                }
            }
            return {packets: 0, level: 0, energy: 0};
        }""",
        identity,
    ))


async def python_client(
    node: RunningNode, identity: str, role: Role = Role.LEARNER, name: str = "",
    clip: Clip | None = None, subscribe: bool = True, **kw: Any,
) -> Client:
    """A joined Python client; with `clip`, it publishes the clip's audio and video.

    Bots that only show up in a page should not `subscribe`: aiortc decodes every video
    track it receives, and a few 640x480 decoders would starve a 2-core machine.
    """
    grants = TokenGrants(publish=True, subscribe=subscribe)
    token = node.token(ROOM, identity, role, name=name or identity, grants=grants)
    client = Client(node.url, ROOM, token, **kw)
    await client.join()
    if clip is not None:
        await client.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    return client


def downlink_with_tracks(publisher: str) -> Callable[[Client], RemoteDownlink | None]:
    def check(client: Client) -> RemoteDownlink | None:
        downlink = client.downlink_from(publisher)
        return downlink if downlink is not None and len(downlink.tracks) == 2 else None

    return check
