"""The reviewer's replay page in real Chromium, on a recorded probe lesson with a planted
5 s mute (the tutor), a reconnect (the learner's network cut for 4 s) and a freeze (the
tutor's camera stalls 0.7 s): both participants play on one clock, the probe's frame
stamps read from the two videos at one playback instant agree within 2 frames after a
seek to the middle, the timeline shows what was planted and every entry seeks by
keyboard, axe finds no WCAG 2.1 AA violation at laptop and tablet widths."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from media.ids import Kind, Role
from qos.impairment import Impairment
from qos.probe_source import ProbeConfig
from qos.probe_tracks import ProbeAudioTrack, ProbeEpoch, ProbeVideoTrack, probe_tracks
from signalling import protocol as p
from signalling.client import Client
from signalling.client.continuity import ReconnectPolicy
from tests.browser.stamps import read_stamps
from tests.browser.test_join_page import WCAG_21_AA
from tests.conftest import Clients, RunningNode
from tests.integration.test_review import CONSENT, HEADERS, RECORDING

ROOM = "replay-lesson"
FRAME_MS = 1000.0 / ProbeConfig().fps
MUTE_AT, MUTE_S = 2.0, 5.0  # session seconds, roughly (from the recording's start)
FREEZE_AT, FREEZE_S = 9.0, 0.7
CUT_AT, CUT_S = 18.0, 4.0  # the learner's media is back by ~23 s
RECORD_S = 28.0  # the middle (14 s) has both participants' media
VIDEOS = ['video[data-track="learner-video"]', 'video[data-track="tutor-video"]']


class StallingVideo(ProbeVideoTrack):
    """The probe's video, whose camera stalls once for `FREEZE_S` at `FREEZE_AT` (s since
    the recording started): a freeze planted at the source."""

    def __init__(self, epoch: ProbeEpoch, started: float) -> None:
        super().__init__(ProbeConfig(), epoch, asyncio.sleep)
        self.started = started
        self.stalled_at: float | None = None

    async def recv(self) -> Any:
        if self.stalled_at is None and time.monotonic() - self.started >= FREEZE_AT:
            self.stalled_at = time.monotonic()
            await asyncio.sleep(FREEZE_S)
        return await super().recv()


async def planted_lesson(node: RunningNode, clients: Clients) -> str:
    """A recorded 1:1 probe lesson with the mute, the reconnect and the freeze."""
    tutor = clients.add(Client(node.url, ROOM, node.token(ROOM, "tutor", Role.TUTOR)))
    cut = Impairment(seed=1)
    learner = clients.add(Client(
        node.url, ROOM, node.token(ROOM, "learner", Role.LEARNER, consent=CONSENT),
        impairment=cut, reconnect=ReconnectPolicy(), seed=3))
    await tutor.join()
    await learner.join()
    start = time.monotonic()
    epoch = ProbeEpoch()
    video = StallingVideo(epoch, start)
    await tutor.publish([ProbeAudioTrack(ProbeConfig(), epoch, asyncio.sleep), video])
    await learner.publish(list(probe_tracks()))
    await tutor.wait_for(lambda c: any(
        e.recorded == ["learner", "tutor"] for e in c.events_of(p.RecordingStarted)),
        timeout=10)
    start = video.started = time.monotonic()
    await asyncio.sleep(MUTE_AT)
    await tutor.mute(Kind.AUDIO, True)
    await tutor.mute(Kind.VIDEO, True)
    await asyncio.sleep(MUTE_S)
    await tutor.mute(Kind.AUDIO, False)
    await tutor.mute(Kind.VIDEO, False)
    await asyncio.sleep(max(0.0, start + FREEZE_AT + 1.0 - time.monotonic()))
    assert video.stalled_at is not None
    await asyncio.sleep(max(0.0, start + CUT_AT - time.monotonic()))
    cut.cut(CUT_S)
    await tutor.wait_for(lambda c: c.events_of(p.ParticipantResumed), timeout=CUT_S + 15)
    await asyncio.sleep(max(0.0, start + RECORD_S - time.monotonic()))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{node.url}/v1/sessions", headers=HEADERS) as r:
            (listed,) = (await r.json())["sessions"]
        async with http.delete(f"{node.url}/v1/rooms/{ROOM}/recording", headers=HEADERS) as r:
            assert r.status == 204
    await tutor.wait_for(lambda c: bool(c.events_of(p.RecordingStopped)), timeout=10)
    print("reconnects of the learner:", [(x.reason, x.attempts) for x in learner.reconnects])
    return str(listed["session"])


async def review_url(node: RunningNode, session: str) -> str:
    async with aiohttp.ClientSession() as http, http.post(
            f"{node.url}/v1/sessions/{session}/review-tokens", headers=HEADERS,
            json={"identity": "rev-1"}) as r:
        assert r.status == 201
        return str((await r.json())["review_url"])


async def open_replay(page: Page, url: str) -> None:
    await page.goto(url)
    assert "token=" not in page.url  # gone from the address bar; the cookie carries it
    await page.wait_for_selector('main[data-state="ready"]', timeout=30_000)
    for _ in range(80):  # bounded: 20 s (the page's CSP forbids wait_for_function's eval)
        if await page.evaluate(
                "[...document.querySelectorAll('video, audio')].every(m => m.readyState >= 2)"):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the tracks did not load")


async def clock_time(page: Page) -> float:
    return float(await page.evaluate("window.liveroomReplay.clock.time"))


MEDIA_STATES = """[...document.querySelectorAll('video, audio')].map(m => ({
    track: m.dataset.track, t: +m.currentTime.toFixed(3), duration: m.duration,
    paused: m.paused, seeking: m.seeking, ready: m.readyState, rate: m.playbackRate,
    error: m.error && m.error.code}))"""


async def media_states(page: Page, when: str) -> list[dict[str, Any]]:
    states = list(await page.evaluate(MEDIA_STATES))
    print(f"media {when}:", states)
    return states


async def no_axe_violations(page: Page, name: str) -> int:
    results = await Axe().run(page, options=WCAG_21_AA)
    print(f"axe at {name}: {results.violations_count} WCAG 2.1 AA violations")
    assert results.violations_count == 0, results.generate_report()
    return int(results.violations_count)


def stamp_gap_frames(stamps: list[dict[str, Any]]) -> float:
    """The learner's frame's capture time - the tutor's, in frames (both publishers' stamps
    are on this process's monotonic clock)."""
    learner, tutor = stamps
    assert "error" not in learner and "error" not in tutor, stamps
    return round((int(learner["capture_ms"]) - int(tutor["capture_ms"])) / FRAME_MS, 2)


def seconds_in(text: str) -> float:
    found = re.search(r"for (\d+\.\d) s", text)
    assert found, text
    return float(found.group(1))


async def test_the_replay_page_plays_a_planted_lesson_in_sync_and_shows_what_happened(
    node_factory: Callable[..., object], clients: Clients,
    new_page: Callable[..., Awaitable[Page]], artifacts: Path,
) -> None:
    node: RunningNode = await node_factory(recording=RECORDING)  # type: ignore[misc]
    session = await planted_lesson(node, clients)
    await clients.close()
    url = await review_url(node, session)
    page = await new_page(width=1280, height=800)
    await open_replay(page, url)
    assert await page.locator("#videos video").count() == 2
    duration = float(await page.evaluate("Number(document.getElementById('seek').max)"))
    await media_states(page, "loaded")
    spans = await page.evaluate(
        "fetch(location.pathname + '/summary').then(r => r.json()).then(b => b.timeline"
        ".filter(x => ['span', 'freeze', 'participant_reconnecting', 'participant_resumed',"
        " 'track_started', 'track_ended'].includes(x.event)))")
    print("timeline lines:", spans)
    print("master:", await page.evaluate("window.liveroomReplay.clock.master.name"))

    # talk time: the tutor's share first, the tutor's row first
    assert re.match(r"The tutor spoke \d+ % of the talk time", await page.inner_text("#talk-share"))
    assert (await page.locator("#talk tr th").all_inner_texts())[0] == "tutor"
    tutor_row = await page.locator("#talk tr").first.locator("td").all_inner_texts()
    learner_row = await page.locator("#talk tr").nth(1).locator("td").all_inner_texts()
    print("talk table:", tutor_row, learner_row)
    assert re.match(r"[1-9]\d* \(", tutor_row[-1])  # freezes: the planted one at least
    assert learner_row[-3] == "1"  # reconnects

    # the timeline shows the planted mute, reconnect and freeze, each at its place
    entries = {k: await page.locator(f'#timeline li[data-kind="{k}"]').all_inner_texts()
               for k in ("join", "mute", "reconnect", "gap", "freeze", "quality")}
    print("timeline:", entries)
    mutes = [x for x in entries["mute"] if "tutor muted" in x]
    assert {"audio", "video"} <= {x.split("muted ")[1].split()[0] for x in mutes}
    assert all(4.5 <= seconds_in(x) <= 6.0 for x in mutes), mutes
    (reconnect,) = [x for x in entries["reconnect"] if x.split()[1] == "learner"]
    # the phase runs from the node's stall detection (2 s into the cut) to the seat given
    # back (the cut's end + the reconnect): 1.9-2.5 s seen
    assert "reconnecting for" in reconnect and 1.0 <= seconds_in(reconnect) <= CUT_S + 8
    assert any("tutor video froze" in x for x in entries["freeze"]), entries["freeze"]
    cut_gaps = [x for x in entries["gap"] if "learner" in x]  # the media lost in the cut
    assert len(cut_gaps) == 2 and all(CUT_S - 0.5 <= seconds_in(x) <= CUT_S + 4 for x in cut_gaps)
    assert not [x for x in entries["gap"] if "tutor" in x]  # the mute is listed as a mute
    assert len(entries["join"]) == 2 and entries["quality"]
    assert await page.locator("#quality tr").count() == len(entries["quality"])
    assert await page.locator("#quality-chart svg .quality-line").count() >= 1
    assert await page.locator("#lanes svg .reconnecting").count() >= 1

    # keyboard: Tab to a timeline entry, Enter seeks there
    mute_entry = page.locator('#timeline li[data-kind="mute"][data-who="tutor"] button').first
    mute_at = sum(int(x) * 60 ** i for i, x in enumerate(
        reversed((await mute_entry.locator(".at").inner_text()).split(":"))))
    await mute_entry.focus()
    await page.keyboard.press("Enter")
    await asyncio.sleep(0.5)
    assert abs(await clock_time(page) - mute_at) < 1.5

    # keyboard: Tab from Play through the controls; the slider's arrows move the position
    await page.locator("#play").focus()
    tabbed = []
    for _ in range(3):
        await page.keyboard.press("Tab")
        tabbed.append(await page.evaluate("document.activeElement.id"))
    assert tabbed == ["back", "forward", "seek"], tabbed
    before = await clock_time(page)
    for _ in range(10):
        await page.keyboard.press("ArrowRight")  # 0.1 s a step
    await asyncio.sleep(0.5)
    assert 0.5 <= await clock_time(page) - before <= 1.5

    await no_axe_violations(page, "1280x800")
    await page.screenshot(path=str(artifacts / "replay-laptop.png"), full_page=True)

    # seek to the middle (the position slider), play, read both videos' stamps
    middle = round(duration / 2, 1)
    await page.locator("#seek").fill(str(middle))
    await page.locator("#play").focus()
    await page.keyboard.press("Enter")  # play
    await asyncio.sleep(1.5)
    playing = []
    for _ in range(8):  # bounded: 8 readings, 0.25 s apart
        playing.append(stamp_gap_frames(await read_stamps(page, VIDEOS)))
        await asyncio.sleep(0.25)
    states = await media_states(page, "playing after the seek")
    times = [x["t"] for x in states]
    await page.keyboard.press("Enter")  # pause
    await asyncio.sleep(0.8)
    await media_states(page, "paused")
    paused_stamps = await read_stamps(page, VIDEOS)
    paused = stamp_gap_frames(paused_stamps)
    at = await clock_time(page)
    print(f"seek to {middle} s of {duration} s; playing: stamp differences (learner - tutor) "
          f"{playing} frames (median {statistics.median(playing):.2f}); track times {times}")
    print(f"paused at {at:.3f} s: stamps {paused_stamps}, difference {paused:.2f} frames")
    assert middle < at < middle + 5.0
    assert abs(paused) <= 2.0
    assert abs(statistics.median(playing)) <= 2.0
    assert max(times) - min(times) < 0.1  # every track on the master's time
    await page.screenshot(path=str(artifacts / "replay-middle.png"))

    # tablet width: readable without sideways scrolling, no axe violation
    tablet = await new_page(width=768, height=1024)
    await open_replay(tablet, url)
    overflow = await tablet.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px wider than the tablet's viewport"
    hidden = await tablet.evaluate(
        "[...document.querySelectorAll('.replay-scroll')].map(x => x.scrollWidth - x.clientWidth)")
    assert max(hidden) <= 0, f"tables scroll sideways on a tablet: {hidden}"
    await no_axe_violations(tablet, "768x1024")
    await tablet.screenshot(path=str(artifacts / "replay-tablet.png"), full_page=True)
