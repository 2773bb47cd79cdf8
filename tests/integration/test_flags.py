"""Feature flags on a real node: a room started with a cohort's token runs with that
cohort's flags, shown in the room state and logged; the flags switch the behaviour (the
audio-only fallback, video shedding: off in that room, on in the room beside it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from media.ids import Kind, Role, RoomId
from qos.impairment import Impairment, LinkProfile
from qos.probe_tracks import probe_tracks
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip
from signalling.flags import Audience
from signalling.keys import NODE
from tests.conftest import API_KEY, Clients, RunningNode
from tests.integration.own_loop import NodeOnItsOwnLoop
from tests.integration.test_admission import PlantedLag, until
from tests.integration.test_congestion import drain
from tests.integration.test_forwarding import has_tracks, publish_clip

VERSION = "2026-12-02-a"
FLAGS = {"version": VERSION, "flags": {
    "audio_only_fallback": {"rules": [{"cohort": "pilot-a", "value": False}]},
    "shed_video": {"default": True, "rules": [
        {"cohort": "pilot-a", "channel": "school", "value": False}]},
}}
LINK = LinkProfile(rate_kbps=150, queue_packets=32)  # test_fallback.py's: video paused


@pytest.fixture
async def flagged(node_factory: Callable[..., object], tmp_path: Path) -> RunningNode:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS))
    return await node_factory(flags_file=str(path))  # type: ignore[no-any-return,misc]


def new(clients: Clients, node: RunningNode, room: str, identity: str, role: Role,
        cohort: str | None, **kw: object) -> Client:
    token = node.token(room, identity, role,
                       audience=Audience(cohort=cohort, channel="school"))
    return clients.add(Client(node.url, room, token, **kw))  # type: ignore[arg-type]


async def admin_get(node: RunningNode, path: str) -> object:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            f"{node.url}{path}") as reply:
        assert reply.status == 200
        return await reply.json()


async def test_a_room_started_with_a_cohorts_token_shows_its_flags_and_logs_them(
        flagged: RunningNode, clients: Clients) -> None:
    with capture_logs() as logs:
        await new(clients, flagged, "pilot-room", "learner-1", Role.LEARNER, "pilot-a").join()
        await new(clients, flagged, "other-room", "learner-2", Role.LEARNER, "pilot-b").join()
        # a later token of another cohort does not change a started room's flags
        await new(clients, flagged, "pilot-room", "tutor-1", Role.TUTOR, "pilot-b").join()
    room = await admin_get(flagged, "/v1/rooms/pilot-room")
    assert room["flags"] == {  # type: ignore[index]
        "version": VERSION, "values": {"audio_only_fallback": False, "shed_video": False},
        "audience": {"cohort": "pilot-a", "channel": "school"}, "fixed": True}
    listing = await admin_get(flagged, "/v1/rooms")
    flags = {r["id"]: r["flags"]["values"] for r in listing["rooms"]}  # type: ignore[index]
    assert flags == {"pilot-room": {"audio_only_fallback": False, "shed_video": False},
                     "other-room": {"audio_only_fallback": True, "shed_video": True}}
    started = [e for e in logs if e["event"] == "room_started"]
    assert [(e["room"], e["version"], e["values"]) for e in started] == [
        ("pilot-room", VERSION, {"audio_only_fallback": False, "shed_video": False}),
        ("other-room", VERSION, {"audio_only_fallback": True, "shed_video": True})]
    hubs = flagged.app[NODE].hubs
    assert not hubs[RoomId("pilot-room")].flags.audio_only_fallback
    assert hubs[RoomId("other-room")].flags.audio_only_fallback


async def test_a_room_created_by_the_api_has_its_flags_fixed_by_its_first_join(
        flagged: RunningNode, clients: Clients) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.post(
            f"{flagged.url}/v1/rooms", json={"id": "booked"}) as reply:
        assert reply.status == 201
        created = await reply.json()
    assert created["flags"] == {"version": VERSION, "audience": {}, "fixed": False,
                                "values": {"audio_only_fallback": True, "shed_video": True}}
    await new(clients, flagged, "booked", "tutor-1", Role.TUTOR, "pilot-a").join()
    room = await admin_get(flagged, "/v1/rooms/booked")
    assert room["flags"]["fixed"] is True  # type: ignore[index]
    assert room["flags"]["values"] == {  # type: ignore[index]
        "audio_only_fallback": False, "shed_video": False}


async def test_a_node_without_flags_shows_its_settings_in_force(
        node_factory: Callable[..., object], clients: Clients) -> None:
    node: RunningNode = await node_factory(shed_video=False)  # type: ignore[misc]
    await new(clients, node, "plain", "learner-1", Role.LEARNER, "pilot-a").join()
    room = await admin_get(node, "/v1/rooms/plain")
    assert room["flags"]["version"] is None  # type: ignore[index]
    assert room["flags"]["values"] == {  # type: ignore[index]
        "audio_only_fallback": True, "shed_video": False}


def video_since(client: Client, since: float) -> int:
    downlink = client.downlink_from("tutor")
    assert downlink is not None
    return sum(1 for r in downlink.packets.get(Kind.VIDEO, []) if r.at >= since)


@pytest.mark.timeout(120)
async def test_the_fallback_flag_off_for_a_cohort_keeps_its_rooms_video_on_a_slow_link(
        flagged: RunningNode, clients: Clients) -> None:
    """Two rooms, each a tutor and a learner on 150 kbit/s: the pilot-b room's learner has
    its video paused by the fallback; the pilot-a room's (flag off) keeps receiving it."""
    learners: dict[str, Client] = {}
    readers: list[asyncio.Task[None]] = []
    try:
        for room, cohort in (("fallback-on", "pilot-b"), ("fallback-off", "pilot-a")):
            tutor = new(clients, flagged, room, "tutor", Role.TUTOR, cohort)
            learner = new(clients, flagged, room, "learner", Role.LEARNER, cohort,
                          impairment=Impairment(inbound=LINK, seed=5), record_packets=True)
            await tutor.join()
            await learner.join()
            await tutor.publish(list(probe_tracks()))
            readers.append(asyncio.ensure_future(drain(learner)))
            learners[room] = learner
        deadline = time.monotonic() + 40.0
        while not learners["fallback-on"].events_of(p.VideoPaused):
            assert time.monotonic() < deadline, "the fallback never paused the video"
            await asyncio.sleep(0.25)
        paused_at = time.monotonic()
        await asyncio.sleep(3.0)
        off, on = learners["fallback-off"], learners["fallback-on"]
        arrived = video_since(off, paused_at + 1.0)
        print(f"video packets to the flag-off learner in the 2 s after the other room's "
              f"pause: {arrived}; to the paused one: {video_since(on, paused_at + 1.0)}")
        assert off.events_of(p.VideoPaused) == []
        hubs = flagged.app[NODE].hubs
        assert not any(paused for _, _, paused in
                       hubs[RoomId("fallback-off")].media.video_paused().values())
        assert any(paused for _, _, paused in
                   hubs[RoomId("fallback-on")].media.video_paused().values())
        assert arrived >= 5, "the flag-off room's video stopped"
    finally:
        for reader in readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


@pytest.fixture
async def shedding_node(tmp_path: Path) -> AsyncIterator[NodeOnItsOwnLoop]:
    """test_shedding.py's node (overload planted on its own loop), with the flags file."""
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(FLAGS))
    node = NodeOnItsOwnLoop(tmp_path, flags_file=str(path), admission_max_loop_lag_s=0.04,
                            admission_max_cpu_cores=0.0, admission_window_s=1.0,
                            admission_refuse=False, shed_step_s=1.0)
    try:
        yield node
    finally:
        await asyncio.get_running_loop().run_in_executor(None, node.stop)


def shed(own: NodeOnItsOwnLoop, room: str, subscriber: str, publisher: str) -> bool:
    for downlink in own.node.hubs[RoomId(room)].media.downlinks.values():
        if downlink.subscriber == subscriber and downlink.publisher == publisher:
            return bool(downlink.tracks[Kind.VIDEO].shed)
    raise AssertionError(f"no downlink {publisher} -> {subscriber} in {room}")


@pytest.mark.timeout(120)
async def test_the_shed_flag_off_for_a_cohort_keeps_its_learners_video_while_the_node_sheds(
        shedding_node: NodeOnItsOwnLoop, clip: Clip, clients: Clients) -> None:
    """Two rooms of a tutor and a learner on an overloaded node: at shedding level 2 the
    pilot-b room's learner video to the tutor is shed, the pilot-a room's (flag off) not."""
    running = await asyncio.get_running_loop().run_in_executor(None, shedding_node.start)
    for room, cohort in (("shed-on", "pilot-b"), ("shed-off", "pilot-a")):
        tutor = new(clients, running, room, "tutor", Role.TUTOR, cohort)
        learner = new(clients, running, room, "learner", Role.LEARNER, cohort)
        await tutor.join()
        await learner.join()
        await publish_clip(tutor, clip)
        await publish_clip(learner, clip)
        await tutor.wait_for(has_tracks("learner"), timeout=20)
    lag = PlantedLag(shedding_node)
    try:
        lag.start()
        await until(lambda: shed(shedding_node, "shed-on", "tutor", "learner"), 20,
                    "the pilot-b learner's video to its tutor shed")
        assert shedding_node.node.shedding.level == 2
        await asyncio.sleep(0.75)  # three more ticks at that level
        assert shed(shedding_node, "shed-on", "tutor", "learner")
        assert not shed(shedding_node, "shed-off", "tutor", "learner")
    finally:
        lag.stop()
