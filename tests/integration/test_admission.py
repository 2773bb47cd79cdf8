"""Admission control on a real node: under sustained load the next join is refused with
`node_overloaded`, nobody already in the room notices, and the refusal ends with the load.

The load is event-loop lag planted on the node's own loop (it runs on a thread of its own,
tests/integration/own_loop.py): a 0.18 s blocking call every 0.2 s (~0.08 s mean lag at
the tick), against a limit of 0.04 s mean lag over a 1 s window. CPU is not limited here
(the test process's CPU is the clients' as much as the node's); the CPU limit is
unit-tested (tests/unit/test_admission.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from media.ids import Kind, Role
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip
from tests.conftest import Clients, RunningNode
from tests.integration.own_loop import NodeOnItsOwnLoop
from tests.integration.test_forwarding import ROOM, has_tracks, publish_clip

WINDOW_S = 1.0


class PlantedLag:
    """Blocks the node's loop for `block_s` every `every_s` until stopped."""

    def __init__(self, own: NodeOnItsOwnLoop, block_s: float = 0.18, every_s: float = 0.2):
        self.own, self.block_s, self.every_s = own, block_s, every_s
        self.running = False

    def _once(self) -> None:
        if self.running:
            time.sleep(self.block_s)
            self.own.loop.call_later(self.every_s - self.block_s, self._once)

    def start(self) -> None:
        self.running = True
        self.own.loop.call_soon_threadsafe(self._once)

    def stop(self) -> None:
        self.running = False


@pytest.fixture
async def own_loop(tmp_path: Path) -> AsyncIterator[NodeOnItsOwnLoop]:
    node = NodeOnItsOwnLoop(tmp_path, admission_max_loop_lag_s=0.04,
                            admission_max_cpu_cores=0.0, admission_window_s=WINDOW_S)
    try:
        yield node
    finally:
        await asyncio.get_running_loop().run_in_executor(None, node.stop)


async def raw_join(node: RunningNode, room: str, identity: str) -> tuple[dict[str, object], int]:
    """Join over a bare WebSocket: the first reply and the close code (0 if still open)."""
    url = node.url.replace("http", "ws", 1) + f"/v1/rooms/{room}/ws"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"type": "join", "id": "j1", "v": p.PROTOCOL_VERSION,
                            "token": node.token(room, identity, Role.LEARNER)})
        reply = await ws.receive_json(timeout=10)
        code = 0
        if reply["type"] == "error":
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            code = ws.close_code or 0
        return reply, code


async def readyz(node: RunningNode) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.get(node.url + "/readyz") as resp:
        assert resp.status == 200
        body: dict[str, object] = await resp.json()
        return body


async def metric(node: RunningNode, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(node.url + "/metrics") as resp:
        text = await resp.text()
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith(name + " "))


def video_since(client: Client, publisher: str, t: float) -> int:
    downlink = client.downlink_from(publisher)
    assert downlink is not None
    return sum(1 for r in downlink.packets.get(Kind.VIDEO, []) if r.at >= t)


async def until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_an_overloaded_node_refuses_the_next_join_and_admits_again_when_load_ends(
    own_loop: NodeOnItsOwnLoop, clip: Clip, clients: Clients
) -> None:
    running = await asyncio.get_running_loop().run_in_executor(None, own_loop.start)
    node = own_loop.node
    tutor = await clients.join(running, ROOM, "tutor", Role.TUTOR)
    learner = await clients.join(running, ROOM, "learner-a", Role.LEARNER, record_packets=True)
    lag = PlantedLag(own_loop)
    try:
        await publish_clip(tutor, clip)
        await learner.wait_for(has_tracks("tutor"), timeout=15)
        assert (await readyz(running))["overloaded"] is False
        assert await metric(running, "liveroom_node_overloaded") == 0

        lag.start()
        await until(lambda: node.admission.overloaded, 10, "the node to be overloaded")
        loaded_at = time.monotonic()
        reply, code = await raw_join(running, ROOM, "learner-b")
        assert reply["type"] == "error" and reply["code"] == "node_overloaded", reply
        assert reply["retry_after_s"] == WINDOW_S
        assert code == 4503
        reply, code = await raw_join(running, "another-room", "learner-c")
        assert reply["code"] == "node_overloaded" and code == 4503
        ready = await readyz(running)
        assert ready["overloaded"] is True and "lag" in str(ready["reason"])
        assert await metric(running, "liveroom_node_overloaded") == 1
        assert await metric(running, "liveroom_admission_refusals_total") == 2
        assert await metric(running, "liveroom_event_loop_lag_seconds_count") > 0
        await asyncio.sleep(1.0)
        assert video_since(learner, "tutor", loaded_at) > 0  # still forwarding under load

        lag.stop()
        await until(lambda: not node.admission.overloaded, 10, "the load to end")
        reply, code = await raw_join(running, ROOM, "learner-b")
        assert reply["type"] == "joined" and code == 0, reply
        for client in (tutor, learner):  # nobody already in the room was affected
            others = ("tutor", "learner-a")
            assert [e for e in client.events_of(p.ParticipantReconnecting)
                    if e.identity in others] == []
            assert [e for e in client.events_of(p.ParticipantLeft) if e.identity in others] == []
            assert client.close_code is None
        assert video_since(learner, "tutor", time.monotonic() - 1.0) > 10
    finally:
        lag.stop()
