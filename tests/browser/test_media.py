"""Media between real Chromium pages and Python clients, through a real node on loopback."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy.typing as npt
from playwright.async_api import Page, expect

from media.ids import Kind, Role
from signalling import protocol as p
from signalling.client import RemoteDownlink
from signalling.client.clip import Clip
from tests.browser.helpers import (
    downlink_with_tracks,
    frames_advance,
    inbound_audio,
    join,
    join_url,
    python_client,
    tile,
    video_frames,
)
from tests.conftest import Clients, RunningNode

NewPage = Callable[..., Awaitable[Page]]


async def outbound_video(page: Page) -> dict[str, Any]:
    """The page's sent video: frames sent and encoded, its fps and size (publish getStats)."""
    return dict(await page.evaluate(
        """async () => {
            const report = await window.liveroom.session.uplink.pc.getStats();
            for (const s of report.values()) {
                if (s.type === 'outbound-rtp' && s.kind === 'video') {
                    return {framesSent: s.framesSent, fps: s.framesPerSecond ?? 0,
                            width: s.frameWidth, height: s.frameHeight, at: performance.now()};
                }
            }
            return null;
        }"""
    ))


def codec_of(downlink: RemoteDownlink, kind: Kind) -> str:
    """The codec name of the payload type the client actually received for `kind`."""
    payload_type = next(r.payload_type for r in downlink.packets[kind] if r.size > 0)
    sdp = downlink.pc.remoteDescription.sdp
    match = re.search(rf"^a=rtpmap:{payload_type} ([^/\s]+)/", sdp, re.M)
    assert match is not None, f"payload type {payload_type} not in the offer"
    return match.group(1).upper()


async def count_video_frames(downlink: RemoteDownlink, seconds: float) -> tuple[int, float]:
    """Decode the downlink's video for `seconds`; return (frames, elapsed)."""
    track = downlink.tracks[Kind.VIDEO]
    frames = 0
    started = time.monotonic()
    deadline = started + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(track.recv(), left)
        except TimeoutError:
            break
        assert isinstance(frame, av.VideoFrame)
        frames += 1
    return frames, time.monotonic() - started


async def loudest_audio(downlink: RemoteDownlink, seconds: float) -> tuple[int, int, int]:
    """Decode the downlink's audio for `seconds`: (frames, sample rate, peak sample)."""
    track = downlink.tracks[Kind.AUDIO]
    frames = rate = peak = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(track.recv(), left)
        except TimeoutError:
            break
        assert isinstance(frame, av.AudioFrame)
        frames += 1
        rate = frame.sample_rate
        samples: npt.NDArray[Any] = frame.to_ndarray()
        peak = max(peak, int(abs(samples).max()))
    return frames, rate, peak


async def test_chromium_publishes_vp8_and_opus_that_a_python_client_decodes_at_the_sent_rate(
    node: RunningNode, new_page: NewPage, clients: Clients
) -> None:
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    tutor = clients.add(await python_client(node, "tutor", Role.TUTOR, record_packets=True))
    downlink = await tutor.wait_for(downlink_with_tracks("maya"))
    first = await asyncio.wait_for(downlink.tracks[Kind.VIDEO].recv(), 10)
    assert isinstance(first, av.VideoFrame)
    # past the start-up ramp, and drain what the receivers queued meanwhile
    await asyncio.gather(count_video_frames(downlink, 1.0), loudest_audio(downlink, 1.0))

    before = await outbound_video(page)
    (frames, elapsed), (audio_frames, rate, peak) = await asyncio.gather(
        count_video_frames(downlink, 3.0), loudest_audio(downlink, 3.0))
    after = await outbound_video(page)
    sent = after["framesSent"] - before["framesSent"]
    sent_fps = sent * 1000 / (after["at"] - before["at"])
    received_fps = frames / elapsed
    print(f"Chromium sent {sent_fps:.1f} fps ({after['width']}x{after['height']}, "
          f"getStats framesPerSecond {after['fps']}); Python decoded {received_fps:.1f} fps; "
          f"{audio_frames} audio frames at {rate} Hz in 3 s, peak {peak}")
    assert sent_fps >= 14, "the fake camera runs at 20 fps"
    assert received_fps >= 0.85 * sent_fps
    assert (first.width, first.height) == (after["width"], after["height"])
    assert rate == 48000
    assert audio_frames >= 120  # 20 ms frames: 150 in 3 s
    assert peak > 1000, "the fake microphone beeps"
    assert codec_of(downlink, Kind.VIDEO) == "VP8"
    assert codec_of(downlink, Kind.AUDIO) == "OPUS"

    # the page's mute and camera buttons reach the other side as events
    await page.get_by_role("button", name="Mute microphone").click()
    await page.get_by_role("button", name="Turn camera off").click()
    muted = await tutor.wait_for(lambda c: {
        e.publication.kind for e in c.events_of(p.TrackMuted) if e.muted
    } == {Kind.AUDIO, Kind.VIDEO} or None)
    assert muted


async def test_chromium_plays_the_video_and_audio_a_python_client_publishes(
    node: RunningNode, new_page: NewPage, clip: Clip, clients: Clients
) -> None:
    clients.add(await python_client(node, "tutor", Role.TUTOR, name="Ms Rivera", clip=clip,
                                    subscribe=False))
    page = await new_page()
    await join(page, join_url(node, "maya", Role.LEARNER, name="Maya"))
    remote = tile(page, "tutor")
    await expect(remote).to_have_attribute("data-camera", "on")
    await expect(remote.locator(".chip-speaking")).to_be_visible()  # the clip's tone
    frames = await video_frames(page, '.tile[data-identity="tutor"] video', 2.0)
    audio = await inbound_audio(page, "tutor")
    print(f"Chromium presented {frames} frames in 2 s of a 30 fps clip; audio {audio}")
    assert frames >= 20
    assert audio["level"] > 0.05 and audio["energy"] > 0
    size = await page.evaluate(
        """() => { const v = document.querySelector('.tile[data-identity="tutor"] video');
                   return [v.videoWidth, v.videoHeight]; }""")
    assert size == [clip.width, clip.height]


async def test_two_chromium_pages_see_and_hear_each_other(
    node: RunningNode, new_page: NewPage
) -> None:
    tutor = await new_page()
    learner = await new_page()
    await join(tutor, join_url(node, "tutor", Role.TUTOR, name="Ms Rivera"))
    await join(learner, join_url(node, "maya", Role.LEARNER, name="Maya"))
    for page, other in ((tutor, "maya"), (learner, "tutor")):
        await expect(tile(page, other)).to_have_attribute("data-camera", "on")

    async def sees_and_hears(page: Page, other: str) -> tuple[int, dict[str, float]]:
        before = await inbound_audio(page, other)
        frames = await video_frames(page, f'.tile[data-identity="{other}"] video', 2.0)
        after = await inbound_audio(page, other)
        assert frames >= 15, f"{other}'s video does not play"
        assert after["packets"] - before["packets"] >= 60, f"{other}'s audio does not flow"
        assert after["energy"] > before["energy"], f"{other}'s audio is silent"
        return frames, after

    results = await asyncio.gather(sees_and_hears(tutor, "maya"), sees_and_hears(learner, "tutor"))
    print(f"frames in 2 s and audio seen by the tutor, the learner: {results}")


async def test_mute_camera_off_and_leave_are_seen_by_the_other_page(
    node: RunningNode, new_page: NewPage
) -> None:
    tutor = await new_page()
    learner = await new_page()
    await join(tutor, join_url(node, "tutor", Role.TUTOR, name="Ms Rivera"))
    await join(learner, join_url(node, "maya", Role.LEARNER, name="Maya"))
    seen = tile(learner, "tutor")
    announcements = learner.locator("#announcer")
    await expect(seen).to_have_attribute("data-camera", "on")

    await tutor.get_by_role("button", name="Mute microphone").click()
    await expect(tutor.get_by_role("button", name="Unmute microphone")).to_be_visible()
    await expect(seen).to_have_attribute("data-mic", "off")
    await expect(seen.locator(".chip-mic")).to_have_text("Mic off")
    await expect(announcements).to_contain_text("Ms Rivera muted their microphone.")

    await tutor.get_by_role("button", name="Turn camera off").click()
    await expect(seen).to_have_attribute("data-camera", "off")
    await expect(seen.locator(".avatar")).to_be_visible()
    await expect(seen.locator(".chip-camera")).to_have_text("Camera off")
    await expect(announcements).to_contain_text("Ms Rivera turned their camera off.")
    await expect(tile(tutor, "tutor")).to_have_attribute("data-camera", "off")  # own tile too
    await asyncio.sleep(3.0)  # longer than the node's stall detection (2 s without video)
    await expect(seen).to_have_attribute("data-reconnecting", "false")

    await tutor.get_by_role("button", name="Turn camera on").click()
    await tutor.get_by_role("button", name="Unmute microphone").click()
    await expect(seen).to_have_attribute("data-camera", "on")
    await expect(seen).to_have_attribute("data-mic", "on")
    assert await frames_advance(learner, '.tile[data-identity="tutor"] video', 5)

    await tutor.get_by_role("button", name="Leave session").click()
    await expect(tutor.get_by_role("heading", name="You left the session")).to_be_visible()
    await expect(seen).to_have_count(0)
    await expect(announcements).to_contain_text("Ms Rivera left.")
    await expect(learner.locator(".tile")).to_have_count(1)
