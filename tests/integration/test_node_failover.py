"""`kill -9` of the node hosting a 1 + 3 lesson: once its heartbeat expires the room is
placed again (the directory's claim takes the dead node's lease over), and the clients,
reconnecting through a live node, take their seats back there with media."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from signalling.client.continuity import SIGNALLING_RESUMED
from tests.conftest import Clients
from tests.integration.cluster_processes import (
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

ROOM = "lesson-failover"


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[ClusterNode]]:
    nodes = [ClusterNode(tmp_path, name, redis_server.url)
             for name in ("doomed", "node-1", "node-2")]
    yield nodes
    for node in nodes:
        node.kill()
        print(node.events())


async def test_a_killed_nodes_lesson_is_back_with_media_on_another_node(
        cluster: list[ClusterNode], redis_server: RedisServer, clip: object,
        clients: Clients) -> None:
    doomed, *survivors = cluster
    await start_nodes([doomed])
    assert (await doomed.post("/v1/rooms", {"id": ROOM}))[0] == 201  # placed on the only node
    await start_nodes(survivors)
    # the lesson enters through a survivor (a load balancer's pick) and is redirected
    lesson = await seat_lesson(survivors[0], ROOM, clip, clients)  # type: ignore[arg-type]
    assert {node_of(cluster, c).name for c in lesson} == {"doomed"}

    store = redis.Redis.from_url(redis_server.url)
    try:
        doomed.kill()
        killed_at = time.monotonic()
        ttl_ms = store.pttl("liveroom:node:doomed")
        assert ttl_ms > 0, ttl_ms
        expired_at = killed_at + ttl_ms / 1000
        async with asyncio.timeout(30):
            while store.exists("liveroom:node:doomed"):
                await asyncio.sleep(0.02)
        seen_expired = time.monotonic()
    finally:
        store.close()
    backs = {}
    for client in lesson:
        await client.wait_for(lambda c: media_back(c) is not None,
                              timeout=30)
        back = media_back(client)
        assert back is not None
        backs[client.identity] = back - expired_at
    print(f"heartbeat expired {expired_at - killed_at:.2f} s after kill -9 (seen gone "
          f"{seen_expired - killed_at:.2f} s)")
    for client in lesson:
        resumed = client.reconnects[-1].phases[SIGNALLING_RESUMED] - expired_at
        print(f"{client.identity}: heartbeat expiry -> signalling resumed {resumed:.2f} s, "
              f"-> video from all three others {backs[client.identity]:.2f} s "
              f"({client.reconnects[-1].attempts} attempts)")
    hosts = {node_of(cluster, c).name for c in lesson}
    assert len(hosts) == 1 and hosts <= {"node-1", "node-2"}, hosts
    new_home = next(n for n in survivors if n.name in hosts)
    assert await room_participants(new_home, ROOM) == {identity for identity, _ in LESSON}
    for client, (identity, role) in zip(lesson, LESSON, strict=True):
        assert client.joined is not None and client.identity == identity
        assert client.joined.participant.role is role
    assert nobody_left(lesson) == []
    assert max(backs.values()) < 5.0, backs
