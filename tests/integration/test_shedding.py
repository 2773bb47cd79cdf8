"""An overloaded node sheds in the lesson's order: learners' videos to learners first,
then to the tutor; the tutor's video and everyone's audio go on; all comes back after.

Overload is planted on the node's own loop (tests/integration/own_loop.py) against a low
lag limit, with shedding steps of 1 s (2 s down).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.ids import Kind, Role
from signalling.client import Client
from signalling.client.clip import Clip
from tests.conftest import Clients
from tests.integration.own_loop import NodeOnItsOwnLoop
from tests.integration.test_admission import PlantedLag, until
from tests.integration.test_forwarding import ROOM, has_tracks, publish_clip


@pytest.fixture
async def own_loop(tmp_path: Path) -> AsyncIterator[NodeOnItsOwnLoop]:
    node = NodeOnItsOwnLoop(tmp_path, admission_max_loop_lag_s=0.04,
                            admission_max_cpu_cores=0.0, admission_window_s=1.0,
                            admission_refuse=False, shed_step_s=1.0)
    try:
        yield node
    finally:
        await asyncio.get_running_loop().run_in_executor(None, node.stop)


def received(client: Client, publisher: str, kind: Kind, since: float) -> int:
    downlink = client.downlink_from(publisher)
    assert downlink is not None
    return sum(1 for r in downlink.packets.get(kind, []) if r.at >= since)


def shed(own: NodeOnItsOwnLoop, subscriber: str, publisher: str) -> bool:
    media = own.node.hubs[ROOM].media  # type: ignore[index]
    for downlink in media.downlinks.values():
        if downlink.subscriber == subscriber and downlink.publisher == publisher:
            return bool(downlink.tracks[Kind.VIDEO].shed)
    raise AssertionError(f"no downlink {publisher} -> {subscriber}")


async def test_learners_videos_are_shed_before_the_tutors_and_audio_never(
    own_loop: NodeOnItsOwnLoop, clip: Clip, clients: Clients
) -> None:
    running = await asyncio.get_running_loop().run_in_executor(None, own_loop.start)
    names = {"tutor": Role.TUTOR, "learner-a": Role.LEARNER, "learner-b": Role.LEARNER}
    room = {n: await clients.join(running, ROOM, n, r, record_packets=True)
            for n, r in names.items()}
    lag = PlantedLag(own_loop)
    try:
        for client in room.values():
            await publish_clip(client, clip)
        for name, client in room.items():
            for other in names:
                if other != name:
                    await client.wait_for(has_tracks(other), timeout=20)
        tutor, b = room["tutor"], room["learner-b"]
        await until(lambda: received(b, "learner-a", Kind.VIDEO, time.monotonic() - 1) > 10,
                    15, "learner-a's video at learner-b")

        lag.start()
        await until(lambda: own_loop.node.shedding.level >= 1, 10, "shedding level 1")
        # applied by the node's next tick (a busy machine may take a moment)
        await until(lambda: shed(own_loop, "learner-b", "learner-a")
                    and shed(own_loop, "learner-a", "learner-b"), 5, "learners' videos shed")
        assert not shed(own_loop, "learner-a", "tutor")
        await until(lambda: own_loop.node.shedding.level == 2, 10, "shedding level 2")
        await until(lambda: shed(own_loop, "tutor", "learner-a")
                    and shed(own_loop, "tutor", "learner-b"), 5, "learners' videos to the tutor")
        assert not shed(own_loop, "learner-b", "tutor")
        await asyncio.sleep(1.0)  # what was in flight has arrived
        t = time.monotonic()
        await asyncio.sleep(2.0)
        assert received(b, "learner-a", Kind.VIDEO, t) == 0
        assert received(tutor, "learner-a", Kind.VIDEO, t) == 0
        assert received(b, "tutor", Kind.VIDEO, t) > 0  # the tutor's video goes on
        for subscriber, publisher in (("learner-b", "learner-a"), ("tutor", "learner-b"),
                                      ("learner-a", "tutor")):
            assert received(room[subscriber], publisher, Kind.AUDIO, t) > 0

        lag.stop()
        await until(lambda: own_loop.node.shedding.level == 0, 20, "shedding to end")
        await until(lambda: received(b, "learner-a", Kind.VIDEO, time.monotonic() - 1) > 10,
                    10, "learner-a's video back at learner-b")
        await until(lambda: received(tutor, "learner-b", Kind.VIDEO, time.monotonic() - 1)
                    > 10, 10, "learner-b's video back at the tutor")
    finally:
        lag.stop()
