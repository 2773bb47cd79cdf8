"""Draining a node: its 1 + 3 lesson moves to another node of the cluster, seats kept,
nobody seen leaving, media back; the drained node exits. The steps are the blue/green
runbook's (docs/operations.md): blue runs the lesson, green nodes start, `liveroom drain
--wait` on blue. Then the green node it landed on gets SIGTERM with
LIVEROOM_DRAIN_ON_SIGTERM: the lesson moves once more, to the last node."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from media.ids import Role
from signalling import protocol as p
from signalling.client import Client, ClientError
from signalling.client.continuity import RECONNECT_STARTED, SIGNALLING_RESUMED
from signalling.drain import DRAIN
from tests.conftest import API_KEY, Clients, RunningNode
from tests.integration.cluster_processes import (
    ADMIN,
    LESSON,
    ClusterNode,
    media_back,
    nobody_left,
    node_of,
    room_participants,
    seat_lesson,
    start_nodes,
)
from tests.redis_server import RedisServer

ROOM = "lesson-drain"


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[ClusterNode]]:
    nodes = [ClusterNode(tmp_path, "blue", redis_server.url)] + [
        ClusterNode(tmp_path, name, redis_server.url, LIVEROOM_DRAIN_ON_SIGTERM="true")
        for name in ("green-1", "green-2")]
    yield nodes
    for node in nodes:
        node.kill()
        print(node.events())


async def run_drain_command(node: ClusterNode, deadline_s: float) -> tuple[int, str]:
    """`liveroom drain --url ... --deadline ... --wait`, as the runbook says."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signalling.cli", "drain", "--url", node.url,
        "--deadline", str(deadline_s), "--wait",
        env={**os.environ, "LIVEROOM_API_KEY": API_KEY, "LIVEROOM_DATA_DIR": str(node.data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), deadline_s + 40)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def moved(lesson: list[Client], started: float, moves: int, how: str
                ) -> dict[str, float]:
    """Wait until every client made its `moves`-th reconnect (a move) and has video from
    the three others again; print and return each one's time from `started`."""
    backs = {}
    for client in lesson:
        try:
            await client.wait_for(lambda c: len(c.reconnects) >= moves
                                  and media_back(c) is not None, timeout=30)
        except TimeoutError:
            raise AssertionError(describe(lesson)) from None
        back = media_back(client)
        assert back is not None
        backs[client.identity] = back - started
        phases = client.reconnects[-1].phases
        told = phases[RECONNECT_STARTED] - started
        print(f"{client.identity}: {how} -> moved {told:.2f} s, -> signalling resumed "
              f"{phases[SIGNALLING_RESUMED] - started:.2f} s, -> video from all three "
              f"others {back - started:.2f} s (move -> video {back - started - told:.2f} s)")
    return backs


def describe(lesson: list[Client]) -> str:
    """Where each client is, for a failure's message."""
    lines = []
    for c in lesson:
        tries = [(r.reason, r.attempts, sorted(r.phases)) for r in c.reconnects]
        downs = [(d.publisher, {str(k): len(v) for k, v in d.packets.items()})
                 for d in c.downlinks.values()]
        lines.append(f"{c.identity}: {c.ws_url} reconnects {tries} downlinks {downs} "
                     f"close {c.close_code} gave_up {c.gave_up}")
    return "\n".join(lines)


async def exited(node: ClusterNode) -> int:
    async with asyncio.timeout(15):  # it stopped listening; the process follows
        while node.exited() is None:
            await asyncio.sleep(0.1)
    code = node.exited()
    assert code is not None
    return code


async def check_seats(cluster: list[ClusterNode], lesson: list[Client], moves: int,
                      gone: str) -> ClusterNode:
    """Everyone on one node (not `gone`), seats kept, nobody seen leaving: the node."""
    hosts = {node_of(cluster, c).name for c in lesson}
    assert len(hosts) == 1 and gone not in hosts, hosts
    home = next(n for n in cluster if n.name in hosts)
    # seats kept: the same identities and roles, back with their resume tokens
    assert await room_participants(home, ROOM) == {identity for identity, _ in LESSON}
    for client, (identity, role) in zip(lesson, LESSON, strict=True):
        assert client.joined is not None and client.identity == identity
        assert client.joined.participant.role is role
        assert [r.reason for r in client.reconnects] == ["moved"] * moves
        assert client.events_of(p.Move)[-1].url == client.ws_url
    assert nobody_left(lesson) == []
    status, listing = await home.get("/v1/cluster")
    assert status == 200
    assert [r["node"] for r in listing["rooms"]] == [home.name]
    assert gone not in {n["id"] for n in listing["nodes"]}
    return home


async def test_a_drained_nodes_lesson_moves_with_its_seats_and_the_node_exits(
        cluster: list[ClusterNode], clip: object, clients: Clients) -> None:
    blue, *greens = cluster
    await start_nodes([blue])
    lesson = await seat_lesson(blue, ROOM, clip, clients)  # type: ignore[arg-type]
    assert {node_of(cluster, c).name for c in lesson} == {"blue"}
    await start_nodes(greens)  # green is up: then blue is drained

    drained_at = time.monotonic()
    command = asyncio.ensure_future(run_drain_command(blue, deadline_s=30))
    backs = await moved(lesson, drained_at, 1, "`liveroom drain`")
    code, output = await command
    print(output)
    assert code == 0, output
    assert await exited(blue) == 0, blue.log_text()[-3000:]
    green = await check_seats(cluster, lesson, 1, gone="blue")
    assert max(backs.values()) < 15.0, backs  # loose: a busy machine; figures printed

    # the green node it landed on is stopped with SIGTERM (LIVEROOM_DRAIN_ON_SIGTERM)
    assert green.process is not None
    signalled_at = time.monotonic()
    green.process.send_signal(signal.SIGTERM)
    backs = await moved(lesson, signalled_at, 2, "SIGTERM")
    assert await exited(green) == 0, green.log_text()[-3000:]
    await check_seats(cluster, lesson, 2, gone=green.name)
    assert max(backs.values()) < 15.0, backs


# --- one node alone: nowhere to move to -----------------------------------------------------


async def readyz(url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as reply:
        return reply.status, await reply.json()


async def test_a_node_with_nowhere_to_move_keeps_its_rooms_until_the_deadline(
        node_factory: Callable[..., object], clients: Clients) -> None:
    node: RunningNode = await node_factory()  # type: ignore[misc]
    tutor = await clients.join(node, "alone", "tutor", Role.TUTOR)
    learner = await clients.join(node, "alone", "learner")
    drain = node.app[DRAIN]
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        async with http.post(f"{node.url}/v1/node/drain", json={"deadline_s": -1}) as reply:
            assert reply.status == 400
        started = time.monotonic()
        async with http.post(f"{node.url}/v1/node/drain", json={"deadline_s": 1.5}) as reply:
            assert reply.status == 202
            status = await reply.json()
    assert status["state"] == "draining" and status["deadline_s"] == 1.5
    assert await readyz(node.url) == (503, {"status": "draining", "rooms": 1})
    refused = clients.new(node, "new-room", "learner2")
    with pytest.raises(ClientError) as error:
        await refused.join()
    assert error.value.code == "placement_unavailable"  # no serving node: no new rooms
    await asyncio.sleep(0.3)
    assert not tutor.events_of(p.Move)  # nowhere to go: the lesson runs on meanwhile
    for client in (tutor, learner):
        await client.wait_for(lambda c: c.close_code == p.CloseCode.MOVED, timeout=5)
        assert [m.url for m in client.events_of(p.Move)] == [None]
        assert not client.events_of(p.ParticipantLeft)
    took = time.monotonic() - started
    print(f"the room was cut {took:.2f} s after a drain with a 1.5 s deadline")
    assert 1.2 <= took < 5.0
    await asyncio.sleep(0.1)
    assert drain.status()["drained"] and drain.status()["cut"] == 1
    assert node.app[DRAIN].node.hubs == {}
