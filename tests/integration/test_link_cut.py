"""Continuity under real link loss: the learner's client runs in a network namespace of its
own (tests/netns.py, tests/linkbot.py) and its link is cut with `ip link set down`, so the
kernel, the WebSocket and ICE see the cut as a user's would. The tutor is an in-process
client on the node's side of the link.

TTMR = first decoded frame after the link is back - link restored, both directions. The
figures are printed and written to test-artifacts/ttmr.json; the bounds are loose (a busy
CI host), the aim (1 s on a quiet machine) is in docs/continuity.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from media.ids import Role
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from signalling.client.continuity import ReconnectPolicy
from tests.conftest import RunningNode
from tests.integration.test_continuity import Watch, record
from tests.integration.test_forwarding import has_tracks
from tests.netns import Link

ROOM = "lesson-l"
TTMR_LIMIT = 3.0
"""Loose on purpose (a shared CI host; as test_continuity.TTMR_LIMIT): the aim (1 s) and
the quiet-machine figures are in docs/continuity.md."""
REPO = Path(__file__).resolve().parents[2]


GAP_S = 0.5  # a pause in decoded frames this long ends a run of media (linkbot tells ≥ 0.3 s)
FLOWING_S = 1.0  # media flows if a frame was decoded this recently
HOLD_S = 2.0  # media counts as back once it has flowed this long without a pause


def last_run_start(times: list[float], now: float) -> float | None:
    """When the current run of frames began (no pause of GAP_S since); None if no frame
    arrived in the last FLOWING_S."""
    if not times or now - times[-1] > FLOWING_S:
        return None
    i = len(times) - 1
    while i > 0 and times[i] - times[i - 1] < GAP_S:
        i -= 1
    return times[i]


@dataclass
class CutLesson:
    node: RunningNode
    link: Link
    tutor: Client
    watches: list[Watch] = field(default_factory=list)

    def poll_tutor(self) -> None:
        """The tutor decodes the learner's current downlink (a new one if it changed)."""
        downlink = self.tutor.downlink_from("learner")
        if downlink is None or len(downlink.tracks) != 2:
            return
        if not self.watches or self.watches[-1].downlink is not downlink:
            watch = Watch(downlink)
            watch.task = asyncio.ensure_future(watch.run())
            self.watches.append(watch)

    def tutor_frames(self) -> list[float]:
        return sorted(t for w in self.watches for t in w.times)

    def learner_run_start(self, now: float) -> float | None:
        """As last_run_start for the learner's frames of the tutor, from the bot's reports
        (a `frame` line starts each run; `fps` lines say it is still going)."""
        starts = [x["t"] for x in self.link.events("frame")
                  if x["publisher"] == "tutor" and x["gap_s"] >= GAP_S]
        fps = self.link.events("fps")
        if not fps or now - fps[-1]["t"] > 1.5 or fps[-1]["counts"].get("tutor", 0) < 5:
            return None
        return starts[-1] if starts else None

    async def hold(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll_tutor()
            await asyncio.sleep(0.05)

    async def until(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if done():
                return True
            await self.hold(0.1)
        return False

    async def media_flowing(self, timeout: float = 15.0) -> None:
        """Both directions decode (the lesson is ready)."""
        ok = await self.until(lambda: self.learner_run_start(time.monotonic()) is not None
                              and last_run_start(self.tutor_frames(), time.monotonic())
                              is not None, timeout)
        assert ok, "media does not flow both ways"

    def learner_left(self) -> list[p.ParticipantLeft]:
        return [e for e in self.tutor.events_of(p.ParticipantLeft) if e.identity == "learner"]

    def reconnects(self) -> list[dict[str, Any]]:
        """The learner's reconnects, the newest timeline of each."""
        newest: dict[int, dict[str, Any]] = {}
        for line in self.link.events("reconnect"):
            newest[line["index"]] = line
        return [newest[i] for i in sorted(newest)]

    async def cut(self, seconds: float) -> dict[str, Any]:
        """Cut the learner's link for `seconds`; measure when media is back for good in
        each direction: the start of the run of frames still going HOLD_S after the
        learner's reconnect finished (waiting up to 25 s after the restore for it)."""
        before = len(self.reconnects())
        cut = self.link.cut()
        await self.hold(seconds)
        restored = self.link.restore()

        def finished() -> bool:
            new = self.reconnects()[before:]
            if not new:
                return time.monotonic() - restored > 3.0  # no reconnect at all
            phases = new[-1]["phases"]
            return "gave_up" in phases or (
                "signalling_resumed" in phases and "first_packet" in phases)

        await self.until(finished, 25.0)
        await self.hold(HOLD_S)

        def back_for_good() -> bool:  # both ways, for HOLD_S already
            now = time.monotonic()
            starts = (self.learner_run_start(now), last_run_start(self.tutor_frames(), now))
            return all(s is not None and now - s >= HOLD_S for s in starts)

        await self.until(back_for_good, max(0.0, restored + 25.0 - time.monotonic()))
        now = time.monotonic()
        receive = self.learner_run_start(now)
        send = last_run_start(self.tutor_frames(), now)
        new = self.reconnects()[before:]
        figures: dict[str, Any] = {
            "cut_s": seconds,
            "receive_s": None if receive is None else round(receive - restored, 3),
            "send_s": None if send is None else round(send - restored, 3),
            "reconnects": [
                {"reason": r["reason"], "attempts": r["attempts"],
                 "phases": {k: round(v - restored, 3) for k, v in r["phases"].items()}}
                for r in new
            ],
            "detected_after_cut_s": (round(new[0]["phases"]["stall_detected"] - cut, 3)
                                     if new else None),
            "seat_kept": not self.learner_left(),
        }
        figures["ttmr_s"] = (None if receive is None or send is None
                             else round(max(receive, send) - restored, 3))
        return figures

    async def close(self) -> None:
        for watch in self.watches:
            if watch.task is not None:
                watch.task.cancel()
        await self.tutor.close()


def problems(figures: dict[str, Any]) -> list[str]:
    """What a cut of 5-40 s must do (issue 17): recovered by stall detection, seat kept,
    media back both ways promptly."""
    found = []
    if figures["receive_s"] is None or figures["receive_s"] > TTMR_LIMIT:
        found.append(f"learner sees tutor after {figures['receive_s']} s")
    if figures["send_s"] is None or figures["send_s"] > TTMR_LIMIT:
        found.append(f"tutor sees learner after {figures['send_s']} s")
    reasons = [r["reason"] for r in figures["reconnects"]]
    if reasons != ["media_stalled"]:
        found.append(f"reconnects {reasons} (want one, by stall detection)")
    if not figures["seat_kept"]:
        found.append("seat lost")
    return found


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    link = Link([sys.executable, "-m", "tests.linkbot"],
                env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        await link.start()
        yield link
    finally:
        await link.close()


async def open_lesson(
    node_factory: Callable[..., Any], link: Link, clip: Clip, give_up_after: float = 60.0,
    **node_settings: object,
) -> CutLesson:
    node = await node_factory(host=link.host_address, ice_host_addresses=[link.host_address],
                              **node_settings)
    tutor = Client(node.url, ROOM, node.token(ROOM, "tutor", Role.TUTOR),
                   reconnect=ReconnectPolicy())
    lesson = CutLesson(node, link, tutor)
    await tutor.join()
    await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    await link.send(cmd="join", url=node.url, room=ROOM, address=link.child_address,
                    token=node.token(ROOM, "learner", Role.LEARNER),
                    give_up_after=give_up_after)
    await link.wait_for(lambda x: x.get("event") in ("published", "error"), timeout=20)
    assert not link.events("error"), link.events("error")
    await tutor.wait_for(has_tracks("learner"), timeout=10)
    await lesson.media_flowing()
    return lesson


@pytest.fixture
async def lesson(
    node_factory: Callable[..., Any], link: Link, clip: Clip
) -> AsyncIterator[CutLesson]:
    lesson = await open_lesson(node_factory, link, clip)
    try:
        yield lesson
    finally:
        await lesson.close()


@pytest.mark.parametrize("seconds", [5, 20])
async def test_a_real_link_cut_keeps_the_seat_and_media_comes_back_both_ways(
    lesson: CutLesson, seconds: int
) -> None:
    figures = await lesson.cut(seconds)
    record(f"link_cut_{seconds}s", figures)
    assert problems(figures) == []
    assert len([e for e in lesson.tutor.events_of(p.ParticipantJoined)
                if e.participant.identity == "learner"]) == 1, "the learner was seen twice"


CUTS_IN_A_ROW = {
    "suite": [5, 20, 5, 40, 5],  # about 2 min
    "ten": [5, 20, 40, 5, 20, 40, 5, 20, 40, 5],  # issue 17's ten cuts, about 5 min
}
"""`LIVEROOM_LINK_CUTS=ten` runs the long series (its figures are in docs/continuity.md)."""


@pytest.mark.timeout(480)
async def test_one_client_through_several_cuts_in_a_row(lesson: CutLesson) -> None:
    series = CUTS_IN_A_ROW[os.environ.get("LIVEROOM_LINK_CUTS", "suite")]
    found = {}
    for n, seconds in enumerate(series):
        figures = await lesson.cut(seconds)
        record(f"link_cuts_in_a_row_{n + 1}_{seconds}s", figures)
        if problems(figures):
            found[f"cut {n + 1} ({seconds} s)"] = problems(figures)
        await asyncio.sleep(3.0)  # media flowing again before the next cut
    assert found == {}
    assert len(lesson.reconnects()) == len(series)  # one reconnect per cut, none between
    assert len([e for e in lesson.tutor.events_of(p.ParticipantJoined)
                if e.participant.identity == "learner"]) == 1, "the learner was seen twice"


@pytest.mark.timeout(240)
async def test_a_70s_cut_frees_the_seat_and_a_fresh_join_works(
    node_factory: Callable[..., Any], link: Link, clip: Clip
) -> None:
    grace = 10.0  # the node's seat grace, and the client gives up after as long
    lesson = await open_lesson(node_factory, link, clip, give_up_after=grace,
                               reconnect_grace_s=grace)
    try:
        cut = link.cut()
        left = await lesson.tutor.wait_for(lambda c: lesson.learner_left(), timeout=grace + 10)
        seat_freed = time.monotonic() - cut
        assert left[0].reason == "disconnected"
        await lesson.hold(max(0.0, cut + 70 - time.monotonic()))
        restored = link.restore()
        await link.wait_for(lambda x: x.get("event") == "gave_up", timeout=5)
        mark = len(link.lines)
        await link.send(cmd="rejoin")
        joined = await link.wait_for(lambda x: x.get("event") in ("joined", "error"),
                                     timeout=10, after=mark)
        assert joined["event"] == "joined" and joined["resumed"] is False, joined
        await lesson.until(lambda: lesson.learner_run_start(time.monotonic()) is not None
                           and last_run_start(lesson.tutor_frames(), time.monotonic())
                           is not None, 15.0)
        now = time.monotonic()
        receive = lesson.learner_run_start(now)
        send = last_run_start(lesson.tutor_frames(), now)
        figures = {"seat_freed_after_cut_s": round(seat_freed, 3),
                   "rejoined_s": round(joined["t"] - restored, 3),
                   "receive_s": None if receive is None else round(receive - restored, 3),
                   "send_s": None if send is None else round(send - restored, 3)}
        record("link_cut_70s", figures)
        assert seat_freed <= grace + 2.0 + 3.0  # stall detection + grace + slack
        assert receive is not None and receive > restored
        assert send is not None and send > restored
        assert len([e for e in lesson.tutor.events_of(p.ParticipantJoined)
                    if e.participant.identity == "learner"]) == 2  # first join, fresh join
    finally:
        await lesson.close()
