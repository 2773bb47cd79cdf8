"""A room's events on any node (`GET /v1/rooms/{id}/events`, Server-Sent Events): two nodes
on one real redis-server, a consumer on the node that does not host the room; a late
consumer catching up from `Last-Event-ID`; the end after `room_closed`; and the embedded
(memory) log on one node."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from media.ids import Role
from signalling.client import Client
from signalling.room_events import MAX_CONSUMERS
from tests.conftest import API_KEY, Clients, RunningNode
from tests.redis_server import RedisServer

ADMIN = {"Authorization": f"Bearer {API_KEY}"}
NAME = "Alice Example"


class Sse:
    """One open event stream, read frame by frame (comments and `retry:` skipped)."""

    def __init__(self, reply: aiohttp.ClientResponse) -> None:
        self.reply = reply

    async def next(self, timeout_s: float = 10.0) -> dict[str, Any] | None:
        """The next event ({"id", "event", "data"}), None at the end of the stream."""
        frame: dict[str, Any] = {}
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await self.reply.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if line == "":
                    if "data" in frame:
                        frame["data"] = json.loads(frame["data"])
                        return frame
                    frame = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    frame[name] = value

    async def until(self, event_type: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Every event up to and including the next of `event_type`."""
        seen: list[dict[str, Any]] = []
        while True:
            frame = await self.next(timeout_s)
            assert frame is not None, f"the stream ended before {event_type}: {seen}"
            seen.append(frame)
            if frame["event"] == event_type:
                return seen


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        yield session


def summary(frames: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(f["event"], f["data"].get("participant")) for f in frames]


async def place_room(http: aiohttp.ClientSession, nodes: list[RunningNode], room: str
                     ) -> int:
    """Create the room through node 0 (following a 307): the index of its owner."""
    async with http.post(f"{nodes[0].url}/v1/rooms", json={"id": room},
                         allow_redirects=False) as reply:
        if reply.status == 201:
            return 0
        assert reply.status == 307, await reply.text()
        location = reply.headers["Location"]
    async with http.post(location, json={"id": room}) as reply:
        assert reply.status == 201, await reply.text()
    return next(i for i, n in enumerate(nodes) if location.startswith(n.url))


async def test_a_consumer_on_the_other_node_gets_the_rooms_events_live_and_a_late_one_catches_up(
        node_factory: Callable[..., Any], redis_server: RedisServer, clients: Clients,
        http: aiohttp.ClientSession) -> None:
    nodes: list[RunningNode] = [
        await node_factory(redis_url=redis_server.url, node_id=f"ev{i}") for i in range(2)]
    owner_i = await place_room(http, nodes, "lesson-ev")
    owner, other = nodes[owner_i], nodes[1 - owner_i]
    url = f"{other.url}/v1/rooms/lesson-ev/events"
    # the listing shows the room with its owner, from either node
    async with http.get(f"{other.url}/v1/cluster") as reply:
        listing = await reply.json()
    assert {r["id"]: r["node"] for r in listing["rooms"]} == {"lesson-ev": f"ev{owner_i}"}

    async with http.get(url) as live_reply:  # live only: from now on
        assert live_reply.status == 200
        live = Sse(live_reply)
        tutor = clients.add(Client(owner.url, "lesson-ev", owner.token(
            "lesson-ev", "tutor-1", Role.TUTOR, name=NAME)))
        await tutor.join()
        learner = await clients.join(owner, "lesson-ev", "learner-1")
        seen = await live.until("participant_joined")
        seen += await live.until("participant_joined")
        assert summary(seen) == [("participant_joined", "tutor-1"),
                                 ("participant_joined", "learner-1")]
        assert seen[0]["data"]["role"] == "tutor" and seen[0]["data"]["node"] == f"ev{owner_i}"
        assert NAME not in json.dumps(seen)
        await learner.leave()
        left = await live.until("participant_left")
        assert summary(left) == [("participant_left", "learner-1")]
        assert left[0]["data"]["reason"] == "left"

        # a second consumer from the first join's id: exactly what came after, then live
        headers = {**ADMIN, "Last-Event-ID": seen[0]["id"]}
        async with http.get(url, headers=headers) as late_reply:
            assert late_reply.status == 200
            late = Sse(late_reply)
            caught_up = await late.until("participant_left")
            assert [f["id"] for f in caught_up] == [seen[1]["id"], left[0]["id"]]
            await clients.join(owner, "lesson-ev", "learner-2")
            for consumer in (live, late):
                assert summary(await consumer.until("participant_joined")) == [
                    ("participant_joined", "learner-2")]
            async with http.delete(f"{owner.url}/v1/rooms/lesson-ev") as reply:
                assert reply.status == 204
            for consumer in (live, late):
                end = await consumer.until("room_closed")
                assert sorted(summary(end)) == [
                    ("participant_left", "learner-2"), ("participant_left", "tutor-1"),
                    ("room_closed", None)]
                assert await consumer.next(5.0) is None  # the stream ended after it
    # from the start: the whole retained stream, from room_started to room_closed
    async with http.get(f"{url}?after=0") as reply:
        everything = await Sse(reply).until("room_closed")
    assert everything[0]["event"] == "room_started" and len(everything) == 8
    # a consumer that saw the end is told there is no more (an EventSource stops)
    async with http.get(url, headers={**ADMIN, "Last-Event-ID": end[-1]["id"]}) as reply:
        assert reply.status == 204


async def test_bad_room_ids_and_event_ids_are_400_and_no_admin_key_is_401(
        node: RunningNode, http: aiohttp.ClientSession) -> None:
    for path in ("/v1/rooms/bad.room/events", f"/v1/rooms/{'a' * 65}/events",
                 "/v1/rooms/ok/events?after=nope"):
        async with http.get(f"{node.url}{path}") as reply:
            assert reply.status == 400, path
            assert (await reply.json())["error"]["code"] == "invalid_request"
    async with http.get(f"{node.url}/v1/rooms/ok/events",
                        headers={**ADMIN, "Last-Event-ID": "1-x"}) as reply:
        assert reply.status == 400
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{node.url}/v1/rooms/ok/events") as reply:
            assert reply.status == 401
        async with anonymous.get(f"{node.url}/v1/rooms/ok/events",
                                 headers={"Authorization": "Bearer wrong"}) as reply:
            assert reply.status == 401


async def test_the_memory_log_serves_one_node_with_catch_up_a_max_duration_and_a_bound(
        node_factory: Callable[..., Any], clients: Clients,
        http: aiohttp.ClientSession) -> None:
    node: RunningNode = await node_factory(room_events_max_s=5.0)
    url = f"{node.url}/v1/rooms/lesson-mem/events"
    async with http.get(url) as reply:
        live = Sse(reply)
        await clients.join(node, "lesson-mem", "learner-1")
        first = await live.until("participant_joined")
        assert summary(first) == [("room_started", None), ("participant_joined", "learner-1")]
        assert await live.next(8.0) is None  # ended at the max duration (5 s)
    async with http.get(f"{url}?after=0") as reply:
        replay = await Sse(reply).until("participant_joined")
    assert [f["event"] for f in replay] == ["room_started", "participant_joined"]
    assert [f["id"] for f in replay] == [f["id"] for f in first]
    # at most max_consumers streams per node at once: one more is 429
    opened = [await http.get(url) for _ in range(MAX_CONSUMERS)]
    try:
        assert all(r.status == 200 for r in opened)
        async with http.get(url) as reply:
            assert reply.status == 429
            assert (await reply.json())["error"]["code"] == "too_many_streams"
    finally:
        for r in opened:
            r.close()


async def test_with_redis_gone_a_join_still_works_and_the_lost_events_are_counted(
        node_factory: Callable[..., Any], redis_server: RedisServer, clients: Clients,
        http: aiohttp.ClientSession) -> None:
    node: RunningNode = await node_factory(redis_url=redis_server.url, node_id="alone")
    await place_room(http, [node], "lesson-down")
    redis_server.stop()
    learner = await asyncio.wait_for(clients.join(node, "lesson-down", "learner-1"), 10)
    assert learner.joined is not None

    async def dropped() -> float:
        async with http.get(f"{node.url}/metrics") as reply:
            text = await reply.text()
        return float(next(line.split()[1] for line in text.splitlines()
                          if line.startswith("liveroom_room_events_dropped_total")))

    async with asyncio.timeout(10):
        while await dropped() < 1:  # its events could not be appended: dropped, counted
            await asyncio.sleep(0.2)
    async with http.get(f"{node.url}/v1/rooms/lesson-down/events") as reply:
        assert reply.status == 503
        assert (await reply.json())["error"]["code"] == "event_stream_unavailable"


async def test_a_drained_rooms_stream_says_where_it_moved_and_goes_on_with_the_next_owner(
        node_factory: Callable[..., Any], redis_server: RedisServer, clients: Clients,
        http: aiohttp.ClientSession) -> None:
    nodes: list[RunningNode] = [
        await node_factory(redis_url=redis_server.url, node_id=f"dr{i}") for i in range(2)]
    owner_i = await place_room(http, nodes, "lesson-dr")
    owner, other = nodes[owner_i], nodes[1 - owner_i]
    await clients.join(owner, "lesson-dr", "learner-1")
    async with http.get(f"{other.url}/v1/rooms/lesson-dr/events?after=0") as reply:
        stream = Sse(reply)
        before = await stream.until("participant_joined")
        assert [f["event"] for f in before] == ["room_started", "participant_joined"]
        async with http.post(f"{owner.url}/v1/node/drain", json={"deadline_s": 10}) as r:
            assert r.status == 202
        moved = await stream.until("room_moved")
        assert summary(moved) == [("room_moved", None)]  # nobody seen leaving
        assert moved[0]["data"] == {"type": "room_moved", "room": "lesson-dr",
                                    "node": f"dr{owner_i}", "at": moved[0]["data"]["at"],
                                    "to": f"dr{1 - owner_i}"}
        await clients.join(other, "lesson-dr", "learner-1")  # its seat on the new owner
        after = await stream.until("participant_joined")
        assert [(f["event"], f["data"]["node"]) for f in after] == [
            ("room_started", f"dr{1 - owner_i}"), ("participant_joined", f"dr{1 - owner_i}")]
