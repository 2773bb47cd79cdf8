"""A real link cut for Chromium (issue 17): the learner's browser runs in a network namespace
of its own behind a veth pair (qos/gate/netns.py), the node and the tutor (an in-process
Python client) in the test's; the link is cut with `ip link set down`. Two cases:
`direct`, the browser's own link (Chromium sees it go: `offline`, then `online`), and
`one_hop`, its router's uplink (a router namespace between them: the browser's interface
keeps its carrier and Chromium sees no change at all).

Measured (printed): the banner after the cut, and after the restore the first frame of the
run of frames that lasts, both ways: the page's (`requestVideoFrameCallback` on the
tutor's tile) and the tutor's (it decodes the learner's video); and a timeline of the
page's peer connections (pc_log.js: created, candidates gathered, ICE and connection
states, closed) and of its uplink's video sender, relative to the restore. Bounds are
loose (a shared CI host); the aim (1 s) and the figures are in docs/continuity.md.
`LIVEROOM_CHROMIUM_CUTS=5,20` picks the cuts; `LIVEROOM_CHROMIUM_LOG=<file>` keeps
Chromium's own log (network changes, WebRTC ports and connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Page, async_playwright, expect

from media.ids import Kind, Role
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from signalling.client.continuity import ReconnectPolicy
from tests.browser.conftest import BASE_FLAGS, FAKE_DEVICES, FAKE_UI, chromium_path
from tests.browser.helpers import ROOM, downlink_with_tracks, join
from tests.conftest import Clients
from tests.integration.test_continuity import Watch, record
from tests.integration.test_link_cut import HOLD_S, last_run_start
from tests.netns import HOLDER, Link

TTMR_LIMIT = 3.0
BANNER_LIMIT = 1.0
ONE_HOP_BANNER_LIMIT = 4.0  # the stall rule (2 s without a byte) and a watch period
# Page-side: wall-clock times (ms) of the tutor tile's presented frames, and of the
# banner appearing.
PAGE_PROBE = """() => {
    window.probe = { frames: [], banners: [], online: [], reconnected: [] };
    const now = () => performance.timeOrigin + performance.now();
    addEventListener('online', () => window.probe.online.push(now()));
    window.probe.uplinks = [];
    window.liveroom.session.addEventListener('reconnected', () => {
        window.probe.reconnected.push(now());
        const pc = window.liveroom.session.peers.uplink?.pc;
        if (!pc) return;
        const entry = { candidates: (pc.localDescription?.sdp ?? '').split(String.fromCharCode(10))
            .filter((l) => l.startsWith('a=candidate')), states: [] };
        window.probe.uplinks.push(entry);
        for (const type of ['connectionstatechange', 'iceconnectionstatechange']) {
            pc.addEventListener(type, () => entry.states.push(
                [type[0], pc.connectionState, pc.iceConnectionState, now()]));
        }
    });
    const video = document.querySelector('.tile[data-identity="tutor"] video');
    const frame = () => {
        window.probe.frames.push(performance.timeOrigin + performance.now());
        video.requestVideoFrameCallback(frame);
    };
    video.requestVideoFrameCallback(frame);
    const banner = document.querySelector('#reconnecting-banner');
    new MutationObserver(() => {
        if (!banner.hidden) window.probe.banners.push(performance.timeOrigin + performance.now());
    }).observe(banner, { attributes: true });
}"""


PC_LOG = (Path(__file__).parent / "pc_log.js").read_text()
CUTS = [int(s) for s in os.environ.get("LIVEROOM_CHROMIUM_CUTS", "5,20,40").split(",")]


@pytest.fixture(params=["direct", "one_hop"])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[Link]:
    """The browser's own link cut (`direct`), or its router's uplink (`one_hop`)."""
    link = Link([sys.executable, "-c", HOLDER], router=request.param == "one_hop")
    try:
        await link.start()
        yield link
    finally:
        await link.close()


@contextlib.asynccontextmanager
async def chromium_behind(link: Link, origin: str, tmp_path: Path) -> AsyncIterator[Page]:
    """Chromium in the link's namespace (a wrapper enters it), fake camera and mic."""
    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: run scripts/setup --test")
    assert link.process is not None
    wrapper = tmp_path / "chromium-in-netns"
    chromium_log = os.environ.get("LIVEROOM_CHROMIUM_LOG")
    redirect = f" 2>>{chromium_log}" if chromium_log else ""
    wrapper.write_text(
        f'#!/bin/sh\nexec nsenter -t {link.process.pid} -n -- {executable} "$@"{redirect}\n')
    wrapper.chmod(0o755)
    args = [f"{flag} , EXCLUDE {link.host_address}" if flag.startswith("--host-resolver")
            else flag for flag in BASE_FLAGS]  # the node's address is a name for the rule
    args += [FAKE_UI, FAKE_DEVICES, f"--unsafely-treat-insecure-origin-as-secure={origin}"]
    if os.environ.get("LIVEROOM_CHROMIUM_LOG"):
        args += ["--enable-logging=stderr", "--v=0",
                 "--vmodule=*/webrtc/*=1,*/p2p/*=1,*network_change*=2,*address_tracker*=2"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(wrapper), headless=True,
                                                   args=args, timeout=20_000)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await context.add_init_script(PC_LOG)
            page = await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()


async def decode_any(watch: Watch) -> None:
    """As Watch.run, for a browser's camera (its frames carry no clip frame number)."""
    track = watch.downlink.tracks[Kind.VIDEO]
    while True:
        frame = await track.recv()
        if isinstance(frame, av.VideoFrame):
            watch.times.append(time.monotonic())


def wall_to_monotonic(ms: float) -> float:
    return time.monotonic() - (time.time() - ms / 1000.0)


async def page_frames(page: Page) -> list[float]:
    return [wall_to_monotonic(t) for t in await page.evaluate("window.probe.frames")]


async def hold(seconds: float, poll: Callable[[], None]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        poll()
        await asyncio.sleep(0.05)


@pytest.mark.timeout(300)
async def test_chromium_through_real_link_cuts_of_5_20_and_40_s(
    node_factory: Callable[..., Any], link: Link, clip: Clip, tmp_path: Path, clients: Clients
) -> None:
    node = await node_factory(host=link.host_address, ice_host_addresses=[link.host_address])
    tutor = clients.add(Client(
        node.url, ROOM, node.token(ROOM, "tutor", Role.TUTOR, name="Ms Rivera"),
        reconnect=ReconnectPolicy()))
    watches: list[Watch] = []

    def poll_tutor() -> None:
        downlink = tutor.downlink_from("maya")
        if downlink is None or len(downlink.tracks) != 2:
            return
        if not watches or watches[-1].downlink is not downlink:
            watch = Watch(downlink)
            watch.task = asyncio.ensure_future(decode_any(watch))
            watches.append(watch)

    def tutor_frames() -> list[float]:
        return sorted(t for w in watches for t in w.times)

    try:
        await tutor.join()
        await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
        async with chromium_behind(link, node.url, tmp_path) as page:
            token = node.token(ROOM, "maya", Role.LEARNER, name="Maya")
            await join(page, f"{node.url}/join?token={token}")
            await tutor.wait_for(downlink_with_tracks("maya"), timeout=15)
            await page.evaluate(PAGE_PROBE)
            await hold(3.0, poll_tutor)
            assert await page.evaluate("navigator.onLine"), "Chromium thinks it is offline"
            found = {}
            for seconds in CUTS:
                banners_before = len(await page.evaluate("window.probe.banners"))
                cut = link.cut()
                await hold(seconds, poll_tutor)
                restored = link.restore()

                def back(frames: list[float], restored: float = restored) -> float | None:
                    start = last_run_start(frames, time.monotonic())
                    return start if start is not None and start > restored else None

                end = restored + 20.0
                receive = send = None
                while time.monotonic() < end:
                    await hold(0.2, poll_tutor)
                    receive, send = back(await page_frames(page)), back(tutor_frames())
                    if (receive is not None and send is not None
                            and time.monotonic() - max(receive, send) >= HOLD_S):
                        break
                banners = await page.evaluate("window.probe.banners")
                banner = (wall_to_monotonic(banners[banners_before]) - cut
                          if len(banners) > banners_before else None)
                probe = await page.evaluate("window.probe")

                uplink = probe["uplinks"][-1] if probe["uplinks"] else {"candidates": [],
                                                                         "states": []}
                connected = [wall_to_monotonic(x[3]) - restored for x in uplink["states"]
                             if x[1] == "connected"]

                def after_restore(key: str, restored: float = restored,
                                  probe: dict[str, Any] = probe) -> float | None:
                    times = [wall_to_monotonic(t) - restored for t in probe[key]]
                    later = [t for t in times if t > -0.5]
                    return round(later[0], 3) if later else None

                figures: dict[str, Any] = {
                    "cut_s": seconds,
                    "banner_s": None if banner is None else round(banner, 3),
                    "online_s": after_restore("online"),
                    "rejoined_s": after_restore("reconnected"),
                    # the new uplink's host candidates beside loopback's (none: Chromium had
                    # not listed the veth again yet), and when it connected
                    "uplink_candidates": len([c for c in uplink["candidates"]
                                              if " 127.0.0.1 " not in c]),
                    "uplink_connected_s": round(connected[0], 3) if connected else None,
                    "receive_s": None if receive is None else round(receive - restored, 3),
                    "send_s": None if send is None else round(send - restored, 3),
                }
                where = "" if link.router is None else "_one_hop"
                record(f"chromium_link_cut{where}_{seconds}s", figures)
                timeline = [(round(wall_to_monotonic(t) - restored, 3), pc, what, detail)
                            for t, pc, what, detail in await page.evaluate("window.pcLog")
                            if wall_to_monotonic(t) > cut - 0.5]
                print(json.dumps(timeline))
                stats = [[round(wall_to_monotonic(x[0]) - restored, 2), *x[1:]]
                         for x in await page.evaluate("window.upStats ?? []")
                         if -1 < wall_to_monotonic(x[0]) - restored < 10]
                print("UPSTATS", json.dumps(stats))
                problems = []
                # one hop away the browser is not told (no offline): its stall rule is
                if banner is None or banner > (BANNER_LIMIT if link.router is None
                                               else ONE_HOP_BANNER_LIMIT):
                    problems.append(f"banner after {banner} s")
                for way in ("receive_s", "send_s"):
                    if figures[way] is None or figures[way] > TTMR_LIMIT:
                        problems.append(f"{way} {figures[way]}")
                if link.router is None and seconds == 5 and figures["rejoined_s"] is not None:
                    problems.append("a 5 s cut rebuilt the connections instead of keeping them")
                if problems:
                    found[f"{seconds} s"] = problems
                await hold(2.0, poll_tutor)
            assert found == {}
            assert not [e for e in tutor.events_of(p.ParticipantLeft) if e.identity == "maya"]
            await expect(page.locator("#reconnecting-banner")).to_be_hidden()
    finally:
        for watch in watches:
            if watch.task is not None:
                watch.task.cancel()
