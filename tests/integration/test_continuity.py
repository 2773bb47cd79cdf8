"""Continuity: a network blip never ends a lesson.

A tutor and two learners publish and receive; one side's network is cut (all datagrams
and its signalling) for a while. Nobody sees anyone leave, media comes back, and the time
from network restored to first decoded frame (TTMR) is reported and bounded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from media.ids import Kind, Role
from qos.impairment import Impairment
from signalling import protocol as p
from signalling.client import Client, RemoteDownlink
from signalling.client.clip import Clip, ClipTrack, read_frame_number
from signalling.client.continuity import SIGNALLING_RESUMED, ReconnectPolicy
from signalling.keys import NODE
from tests.conftest import Clients, RunningNode
from tests.integration.test_forwarding import has_tracks

ROOM = "lesson-c"
TTMR_LIMIT = 3.0
"""The release aim is 2 s, judged by the gate on a quiet machine (0.4-0.9 s measured here);
this bound only says media came back by a prompt reconnect, with room for a busy CI host
(2.1-2.2 s seen with other test runs in parallel)."""
ARTIFACTS = Path("test-artifacts")


@dataclass
class Watch:
    """Decodes one downlink's video in the background and notes when frames arrive."""

    downlink: RemoteDownlink
    times: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        track = self.downlink.tracks[Kind.VIDEO]
        while True:
            frame = await track.recv()
            if isinstance(frame, av.VideoFrame) and read_frame_number(frame) is not None:
                self.times.append(time.monotonic())

    def first_after(self, t: float) -> float | None:
        return next((x for x in self.times if x >= t), None)


class Lesson:
    def __init__(self, node: RunningNode, clip: Clip) -> None:
        self.node, self.clip = node, clip
        self.clients: dict[str, Client] = {}
        self.impairments: dict[str, Impairment] = {}
        self.watches: dict[tuple[str, str], Watch] = {}

    async def add(self, identity: str, role: Role) -> Client:
        impairment = Impairment(seed=len(self.clients) + 1)
        client = Client(self.node.url, ROOM, self.node.token(ROOM, identity, role),
                        impairment=impairment, reconnect=ReconnectPolicy(), seed=3)
        await client.join()
        await client.publish([ClipTrack(self.clip, "audio"), ClipTrack(self.clip, "video")])
        self.clients[identity], self.impairments[identity] = client, impairment
        return client

    async def watch_all(self) -> None:
        """Make sure every receiver decodes every other publisher's current downlink."""
        for receiver, client in self.clients.items():
            for publisher in self.clients:
                if publisher == receiver:
                    continue
                downlink = await client.wait_for(has_tracks(publisher), timeout=10)
                current = self.watches.get((receiver, publisher))
                if current is None or current.downlink is not downlink:
                    if current is not None and current.task is not None:
                        current.task.cancel()
                    watch = Watch(downlink)
                    watch.task = asyncio.ensure_future(watch.run())
                    self.watches[(receiver, publisher)] = watch

    async def frames_after(self, receiver: str, publisher: str, t: float) -> float:
        """When `receiver` decoded its first frame of `publisher` at or after `t`."""
        async with asyncio.timeout(15):
            while True:
                await self.watch_all()
                first = self.watches[(receiver, publisher)].first_after(t)
                if first is not None:
                    return first
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        for watch in self.watches.values():
            if watch.task is not None:
                watch.task.cancel()
        for client in self.clients.values():
            await client.close()

    def events(self, identity: str, kind: type[p.ServerMessage]) -> list[p.ServerMessage]:
        return self.clients[identity].events_of(kind)


@pytest.fixture
async def lesson(node_factory: object, clip: Clip) -> AsyncIterator[Lesson]:
    node = await node_factory()  # type: ignore[operator]
    lesson = Lesson(node, clip)
    await lesson.add("tutor", Role.TUTOR)
    await lesson.add("learner-a", Role.LEARNER)
    await lesson.add("learner-b", Role.LEARNER)
    await lesson.watch_all()
    for pair in lesson.watches:
        await lesson.frames_after(*pair, time.monotonic())
    yield lesson
    await lesson.close()


def record(name: str, values: dict[str, object]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "ttmr.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = values
    path.write_text(json.dumps(data, indent=2))
    print(name, values)


@pytest.mark.parametrize("seconds", [5, 20, 40])
async def test_a_learner_cut_off_keeps_the_seat_and_comes_back(
    lesson: Lesson, seconds: int
) -> None:
    cut = lesson.impairments["learner-a"]
    cut.cut(seconds)
    assert cut.restored_at is not None
    # the others are told "reconnecting" within a few seconds, never "left"
    for other in ("tutor", "learner-b"):
        told = await lesson.clients[other].wait_for(
            lambda c: [e for e in c.events_of(p.ParticipantReconnecting)
                       if e.identity == "learner-a"], timeout=5)
        assert told
    await asyncio.sleep(max(0.0, cut.restored_at - time.monotonic()))
    restored = cut.restored_at
    # learner-a receives again (new downlinks) and the others receive learner-a again
    # (on the same downlinks: no renegotiation on their side)
    downlinks_before = {o: lesson.clients[o].downlink_from("learner-a") for o in
                        ("tutor", "learner-b")}
    receive = await lesson.frames_after("learner-a", "tutor", restored)
    send = await lesson.frames_after("tutor", "learner-a", restored)
    await lesson.frames_after("learner-b", "learner-a", restored)
    for other in ("tutor", "learner-b"):
        assert lesson.clients[other].downlink_from("learner-a") is downlinks_before[other]
        assert not [e for e in lesson.events(other, p.ParticipantLeft)]
        await lesson.clients[other].wait_for(lambda c: c.events_of(p.ParticipantResumed))
    attempt = lesson.clients["learner-a"].reconnects[-1]
    ttmr = max(receive, send) - restored
    record(f"learner_cut_{seconds}s", {
        "ttmr_s": round(ttmr, 3), "receive_s": round(receive - restored, 3),
        "send_s": round(send - restored, 3), "attempts": attempt.attempts,
        "phases": {k: round(v - restored, 3) for k, v in attempt.phases.items()},
    })
    assert len(lesson.clients["learner-a"].reconnects) == 1
    assert ttmr <= TTMR_LIMIT, f"TTMR {ttmr:.2f} s"
    assert len(lesson.node.app[NODE].hubs[ROOM].room) == 3  # type: ignore[index]


async def test_a_short_cut_recovers_without_reconnecting(lesson: Lesson) -> None:
    cut = lesson.impairments["learner-a"]
    cut.cut(1.0)
    assert cut.restored_at is not None
    await asyncio.sleep(1.0)
    first = await lesson.frames_after("learner-a", "tutor", cut.restored_at)
    await lesson.frames_after("tutor", "learner-a", cut.restored_at)
    await asyncio.sleep(1.0)
    assert lesson.clients["learner-a"].reconnects == []
    for other in ("tutor", "learner-b"):
        assert not lesson.events(other, p.ParticipantReconnecting)
    record("learner_cut_1s", {"first_frame_s": round(first - cut.restored_at, 3)})


async def test_the_tutor_cut_off_resumes_on_the_learners_existing_connections(
    lesson: Lesson,
) -> None:
    offers_before = {o: len(lesson.events(o, p.Offer)) for o in ("learner-a", "learner-b")}
    downlinks = {o: lesson.clients[o].downlink_from("tutor") for o in ("learner-a", "learner-b")}
    cut = lesson.impairments["tutor"]
    cut.cut(5)
    assert cut.restored_at is not None
    await asyncio.sleep(5.0)
    firsts = [await lesson.frames_after(o, "tutor", cut.restored_at)
              for o in ("learner-a", "learner-b")]
    for other in ("learner-a", "learner-b"):
        assert lesson.clients[other].downlink_from("tutor") is downlinks[other]
        assert len(lesson.events(other, p.Offer)) == offers_before[other]
        assert not lesson.events(other, p.ParticipantLeft)
    ttmr = max(firsts) - cut.restored_at
    record("tutor_cut_5s", {"ttmr_s": round(ttmr, 3)})
    assert ttmr <= TTMR_LIMIT


async def test_an_address_change_resumes_the_same_way(lesson: Lesson) -> None:
    changed = time.monotonic()
    lesson.impairments["learner-a"].change_address()
    receive = await lesson.frames_after("learner-a", "tutor", changed + 0.5)
    send = await lesson.frames_after("tutor", "learner-a", changed + 0.5)
    attempt = lesson.clients["learner-a"].reconnects[-1]
    assert attempt.reason == "media_stalled"
    assert SIGNALLING_RESUMED in attempt.phases
    for other in ("tutor", "learner-b"):
        assert not lesson.events(other, p.ParticipantLeft)
    # with no outage to wait out, media is back soon after the stall is detected
    back = max(receive, send) - attempt.phases["stall_detected"]
    record("address_change", {
        "detect_s": round(attempt.phases["stall_detected"] - changed, 3),
        "media_after_detect_s": round(back, 3), "receive_s": round(receive - changed, 3),
        "send_s": round(send - changed, 3), "attempts": attempt.attempts,
        "phases": {k: round(v - changed, 3) for k, v in attempt.phases.items()},
    })
    assert back <= TTMR_LIMIT


async def test_the_same_identity_again_takes_the_seat_over(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    tutor = clients.new(node, ROOM, "tutor", Role.TUTOR)
    first = clients.new(node, ROOM, "learner", Role.LEARNER)
    second = clients.new(node, ROOM, "learner", Role.LEARNER)
    await tutor.join()
    await first.join()
    await first.publish([ClipTrack(clip, "video")])
    downlink = await tutor.wait_for(lambda c: c.downlink_from("learner"))
    joined = await second.join()
    assert joined.resumed
    assert [x.identity for x in joined.room.participants].count("learner") == 1
    await first.wait_for(lambda c: c.close_code is not None)
    assert first.close_code == 4409
    assert [e.reason for e in first.events_of(p.Closing)] == ["replaced"]
    await second.publish([ClipTrack(clip, "video")])
    await asyncio.sleep(0.5)
    assert not tutor.events_of(p.ParticipantLeft)
    assert [e for e in tutor.events_of(p.ParticipantJoined)
            if e.participant.identity == "learner"] != []  # once, at the first join
    assert len([e for e in tutor.events_of(p.ParticipantJoined)
                if e.participant.identity == "learner"]) == 1
    assert tutor.downlink_from("learner") is downlink  # same stream continues


async def test_an_expired_grace_period_frees_the_seat_and_tells_the_room(
    node_factory: object, clients: Clients,
) -> None:
    node = await node_factory(reconnect_grace_s=1.0)  # type: ignore[operator]
    tutor = clients.new(node, ROOM, "tutor", Role.TUTOR)
    learner = clients.new(node, ROOM, "learner", Role.LEARNER)
    await tutor.join()
    await learner.join()
    await learner.close()  # gone without a word: the socket just drops
    reconnecting = await tutor.wait_for(lambda c: c.events_of(p.ParticipantReconnecting))
    assert reconnecting[0].identity == "learner"
    left = await tutor.wait_for(lambda c: c.events_of(p.ParticipantLeft), timeout=5)
    assert (left[0].identity, left[0].reason) == ("learner", "disconnected")
    assert set(node.app[NODE].hubs[ROOM].room.participants) == {"tutor"}
