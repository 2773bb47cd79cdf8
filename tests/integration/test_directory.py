"""The room directory's contract, run against the embedded (memory) directory and against
Redis (a real redis-server on a free loopback port); then three nodes sharing one Redis."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from media.ids import Role, RoomId
from signalling.client import Client, ClientError
from signalling.cluster import CLUSTER
from signalling.directory import (
    MemoryDirectory,
    MemoryStore,
    NodeId,
    NodeRecord,
    NodeState,
    RoomDirectory,
)
from signalling.directory.placement import PlacementKey, takes_canary_room
from signalling.directory.redis import RedisDirectory
from signalling.flags import Audience
from signalling.protocol import ParticipantJoined
from tests.conftest import API_KEY, Clients, RunningNode
from tests.redis_server import RedisServer

ROOM = RoomId("lesson-1")
Directories = Callable[[str], RoomDirectory]
PREFIXES = itertools.count()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest, redis_server: RedisServer
                      ) -> AsyncIterator[Directories]:
    """`make(node_id)`: that node's handle on one shared directory (a fresh key prefix
    per test on the module's Redis)."""
    made: list[RoomDirectory] = []
    store = MemoryStore()
    prefix = f"t{next(PREFIXES)}:"

    def make(node_id: str) -> RoomDirectory:
        directory: RoomDirectory
        if request.param == "memory":
            directory = MemoryDirectory(NodeId(node_id), store)
        else:
            directory = RedisDirectory(NodeId(node_id), redis_server.url, prefix=prefix)
        made.append(directory)
        return directory

    yield make
    for directory in made:
        await directory.close()


async def register(d: RoomDirectory, ttl_s: float = 30.0, state: NodeState = NodeState.SERVING,
                   rooms: int = 0) -> None:
    await d.register(NodeRecord(id=d.node_id, url=f"http://{d.node_id}.test", state=state,
                                rooms=rooms), ttl_s)


async def test_50_concurrent_claims_of_one_room_give_one_owner(make: Directories) -> None:
    nodes = [make(f"n{i}") for i in range(3)]
    for d in nodes:
        await register(d)
    owners = await asyncio.gather(*(nodes[i % 3].claim(ROOM) for i in range(50)))
    assert len({o.node for o in owners if o is not None}) == 1
    assert None not in owners
    assert await nodes[0].rooms() == {ROOM: owners[0].node}  # type: ignore[union-attr]


async def test_rooms_are_placed_on_the_least_loaded_live_serving_node(
        make: Directories) -> None:
    busy, a, b, draining = make("busy"), make("a"), make("b"), make("draining")
    overloaded = make("overloaded")
    await overloaded.register(NodeRecord(id=overloaded.node_id, url="http://o.test",
                                         overloaded=True), 30.0)
    await register(busy, rooms=5)
    await register(a)
    await register(b)
    await register(draining, state=NodeState.DRAINING)
    placed = [await a.claim(RoomId(f"r{i}")) for i in range(6)]
    counts = {n: sum(1 for o in placed if o is not None and o.node == n)
              for n in ("busy", "a", "b", "draining")}
    assert counts == {"busy": 0, "a": 3, "b": 3, "draining": 0}, counts
    assert all(o is not None and o.node != "overloaded" for o in placed)


async def test_only_the_owner_releases(make: Directories) -> None:
    a, b = make("a"), make("b")
    await register(a)
    owner = await a.claim(ROOM)
    assert owner is not None and owner.node == "a"
    await register(b)
    assert not await b.release(ROOM)
    assert (await b.owner(ROOM)) == owner
    assert await a.release(ROOM)
    assert not await a.release(ROOM)
    assert await a.rooms() == {}
    assert await b.owner(ROOM) is None


async def test_a_stale_nodes_room_is_taken_over_by_exactly_one_node(
        make: Directories) -> None:
    stale = make("stale")
    await register(stale, ttl_s=0.3)
    assert (await stale.claim(ROOM)).node == "stale"  # type: ignore[union-attr]
    others = [make(f"n{i}") for i in range(5)]
    for d in others:
        await register(d)
    assert not await others[0].takeover(ROOM, NodeId("stale"))  # alive: not taken
    await asyncio.sleep(0.5)
    assert await others[0].owner(ROOM) is None  # its owner is no longer alive
    won = await asyncio.gather(*(d.takeover(ROOM, NodeId("stale")) for d in others * 4))
    assert sum(won) == 1
    winner = others[won.index(True) % 5].node_id
    assert await stale.rooms() == {ROOM: winner}
    assert not await stale.release(ROOM)  # the stale node cannot release it any more


async def test_a_stale_nodes_room_is_placed_again_by_one_claim(make: Directories) -> None:
    stale = make("stale")
    await register(stale, ttl_s=0.3)
    await stale.claim(ROOM)
    others = [make(f"n{i}") for i in range(3)]
    for d in others:
        await register(d)
    await asyncio.sleep(0.5)
    owners = await asyncio.gather(*(others[i % 3].claim(ROOM) for i in range(50)))
    assert len({o.node for o in owners if o is not None}) == 1
    assert owners[0] is not None and owners[0].node != "stale"
    assert [n.id for n in await others[0].nodes()] == ["n0", "n1", "n2"]


async def test_renewal_keeps_owned_rooms_and_reports_those_another_owns(
        make: Directories) -> None:
    a, b = make("a"), make("b")
    await register(a)
    await a.claim(ROOM)
    await register(b)
    assert await a.renew([ROOM, RoomId("orphan")]) == []  # an orphan is a's again
    assert (await b.owner(RoomId("orphan"))).node == "a"  # type: ignore[union-attr]
    assert await b.renew([ROOM]) == [ROOM]
    assert (await b.owner(ROOM)).node == "a"  # type: ignore[union-attr]


async def test_with_no_live_serving_node_nothing_is_placed(make: Directories) -> None:
    a = make("a")
    assert await a.claim(ROOM) is None
    await register(a, state=NodeState.DRAINING)
    assert await a.claim(ROOM) is None
    await register(a)
    assert (await a.claim(ROOM)).node == "a"  # type: ignore[union-attr]
    await a.deregister()
    assert await a.owner(ROOM) is None
    assert await a.ping()


# --- canaries (placement.py's decision, in memory and in the Redis claim's Lua) ------------


async def register_canary(d: RoomDirectory, share: float, by: str = "room") -> None:
    await d.register(NodeRecord(id=d.node_id, url=f"http://{d.node_id}.test",
                                state=NodeState.CANARY, canary_share=share, canary_by=by),
                     30.0)


async def test_a_canary_at_20_percent_receives_20_percent_of_500_placements(
        make: Directories) -> None:
    canary, *serving = [make(name) for name in ("canary", "s0", "s1", "s2", "s3")]
    await register_canary(canary, 0.2)
    for d in serving:
        await register(d)
    rooms = [RoomId(f"room-{i}") for i in range(500)]
    owners = [await serving[i % 4].claim(room) for i, room in enumerate(rooms)]
    on_canary = {r for r, o in zip(rooms, owners, strict=True)
                 if o is not None and o.node == "canary"}
    share = len(on_canary) / len(rooms)
    print(f"canary at 20 %: {len(on_canary)} of {len(rooms)} placements ({share:.1%})")
    assert 0.15 <= share <= 0.25, share
    # exactly the rooms the pure decision gives the canary (memory and Lua agree with it)
    assert on_canary == {r for r in rooms if PlacementKey.of(r).room < 2000}
    per_node = [sum(1 for o in owners if o is not None and o.node == d.node_id)
                for d in serving]
    assert None not in owners and max(per_node) - min(per_node) <= 1, per_node


async def test_a_canary_by_cohort_takes_whole_cohorts_and_rooms_without_one_by_id(
        make: Directories) -> None:
    canary, a, b = make("canary"), make("a"), make("b")
    await register_canary(canary, 0.3, by="cohort")
    await register(a)
    await register(b)
    record = NodeRecord(id=NodeId("canary"), url="", state=NodeState.CANARY,
                        canary_share=0.3, canary_by="cohort")
    for c in range(20):
        cohort = f"cohort-{c}"
        expected = takes_canary_room(record, PlacementKey.of(RoomId("x"), cohort))
        for i in range(4):
            owner = await a.claim(RoomId(f"c{c}-r{i}"), cohort)
            assert owner is not None and (owner.node == "canary") == expected, cohort
    plain = [RoomId(f"plain-{i}") for i in range(40)]
    for room in plain:
        owner = await b.claim(room)
        assert owner is not None
        assert (owner.node == "canary") == (PlacementKey.of(room).room < 3000), room


async def test_a_canary_takes_rooms_beyond_its_share_only_when_no_serving_node_is_left(
        make: Directories) -> None:
    canary, draining = make("canary"), make("draining")
    await register_canary(canary, 0.0)
    await register(draining, state=NodeState.DRAINING)
    assert (await canary.claim(ROOM)).node == "canary"  # type: ignore[union-attr]
    serving = make("serving")
    await register(serving)
    owners = {(await serving.claim(RoomId(f"r{i}"))).node for i in range(20)}  # type: ignore[union-attr]
    assert owners == {"serving"}


async def test_the_memory_and_the_redis_directory_place_every_room_alike(
        redis_server: RedisServer) -> None:
    """The Lua claim mirrors placement.py: the same nodes and the same claims in the same
    order give the same owner for every room (canaries by room and by cohort, loads)."""
    records = [
        NodeRecord(id=NodeId("c-room"), url="http://c1", state=NodeState.CANARY,
                   canary_share=0.2, rooms=1),
        NodeRecord(id=NodeId("c-cohort"), url="http://c2", state=NodeState.CANARY,
                   canary_share=0.25, canary_by="cohort", load=0.3),
        NodeRecord(id=NodeId("s-a"), url="http://s1", rooms=3, load=0.5),
        NodeRecord(id=NodeId("s-b"), url="http://s2", rooms=3, load=0.25),
        NodeRecord(id=NodeId("s-c"), url="http://s3", rooms=0, load=0.75),
        NodeRecord(id=NodeId("s-over"), url="http://s4", overloaded=True),
    ]
    store, prefix = MemoryStore(), f"t{next(PREFIXES)}:"
    memory: list[RoomDirectory] = [MemoryDirectory(r.id, store) for r in records]
    redis: list[RoomDirectory] = [RedisDirectory(r.id, redis_server.url, prefix=prefix)
                                  for r in records]
    try:
        for directories in (memory, redis):
            for d, record in zip(directories, records, strict=True):
                await d.register(record, 30.0)
        claims = [(RoomId(f"room-{i}"), f"cohort-{i % 7}" if i % 3 else None)
                  for i in range(200)]
        placed = []
        for directories in (memory, redis):
            owners = [await directories[i % 5].claim(room, cohort)
                      for i, (room, cohort) in enumerate(claims)]
            placed.append([o.node if o is not None else None for o in owners])
        assert placed[0] == placed[1]
        assert set(placed[0]) == {"c-room", "c-cohort", "s-a", "s-b", "s-c"}
    finally:
        for d in redis:
            await d.close()


# --- three nodes, one Redis ----------------------------------------------------------------


@pytest.fixture
async def three_nodes(node_factory: Callable[..., object], redis_server: RedisServer
                      ) -> list[RunningNode]:
    nodes: list[RunningNode] = []
    for i in range(3):
        nodes.append(await node_factory(  # type: ignore[misc]
            redis_url=redis_server.url, node_id=f"node{i}-{id(nodes)}"))
    return nodes


def node_of(nodes: list[RunningNode], url: str) -> int:
    found = [i for i, n in enumerate(nodes) if url.startswith(n.url.replace("http", "ws"))]
    assert len(found) == 1, url
    return found[0]


async def test_rooms_spread_over_the_live_nodes_and_clients_follow_the_redirect(
        three_nodes: list[RunningNode], clients: Clients) -> None:
    entry = three_nodes[0]
    joined_first = []
    for i in range(6):  # every join sent to node 0
        client = await clients.join(entry, f"spread-{i}", f"learner{i}")
        assert client.joined is not None and client.joined.room.id == f"spread-{i}"
        joined_first.append(client)
    hosts = [node_of(three_nodes, c.ws_url) for c in joined_first]
    for i, host in enumerate(hosts):
        assert f"spread-{i}" in three_nodes[host].app[CLUSTER].node.hubs
    per_node = [hosts.count(n) for n in range(3)]
    assert sorted(per_node) == [2, 2, 2], per_node
    # a second participant sent to a wrong node joins the first one's room there
    owner = hosts[0]
    late = await clients.join(three_nodes[(owner + 1) % 3], "spread-0", "tutor", Role.TUTOR)
    assert node_of(three_nodes, late.ws_url) == owner
    assert late.joined is not None
    assert {p.identity for p in late.joined.room.participants} == {"learner0", "tutor"}
    await joined_first[0].wait_for(lambda c: c.events_of(ParticipantJoined))


async def test_a_canary_node_gets_the_rooms_of_the_cohorts_its_share_covers(
        node_factory: Callable[..., object], redis_server: RedisServer,
        clients: Clients) -> None:
    serving: RunningNode = await node_factory(  # type: ignore[misc]
        redis_url=redis_server.url, node_id=f"serving-{id(clients)}")
    canary: RunningNode = await node_factory(  # type: ignore[misc]
        redis_url=redis_server.url, node_id=f"canary-{id(clients)}", canary=True,
        canary_share=0.5, canary_by="cohort")
    record = NodeRecord(id=NodeId("c"), url="", state=NodeState.CANARY, canary_share=0.5,
                        canary_by="cohort")
    cohorts = [f"cohort-{i}" for i in range(20)]
    inside = [c for c in cohorts if takes_canary_room(record, PlacementKey.of(ROOM, c))]
    outside = [c for c in cohorts if c not in inside]
    assert inside and outside
    for i, cohort in enumerate(inside[:2] + outside[:2]):
        room = f"canary-room-{i}"
        token = serving.token(room, f"learner{i}", audience=Audience(cohort=cohort))
        client = clients.add(Client(serving.url, room, token))  # always sent to `serving`
        await client.join()
        host = canary if cohort in inside else serving
        assert client.ws_url.startswith(host.url.replace("http", "ws")), (cohort, client.ws_url)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            f"{serving.url}/v1/cluster") as reply:
        listing = await reply.json()
    states = {n["url"]: (n["state"], n["canary_share"]) for n in listing["nodes"]}
    assert states == {serving.url: ("serving", 0.0), canary.url: ("canary", 0.5)}


async def follow(http: aiohttp.ClientSession, method: str, url: str,
                 **kw: object) -> tuple[int, str, object]:
    """One call, a 307 followed by hand with the API key again (HTTP clients drop the
    Authorization header on a redirect to another origin): (status, final URL, body)."""
    async with http.request(method, url, allow_redirects=False, **kw) as reply:  # type: ignore[arg-type]
        if reply.status != 307:
            body = await reply.json() if reply.content_type == "application/json" else None
            return reply.status, url, body
        location = reply.headers["Location"]
    async with http.request(method, location, allow_redirects=False, **kw) as reply:  # type: ignore[arg-type]
        body = await reply.json() if reply.content_type == "application/json" else None
        return reply.status, location, body


async def test_rest_room_calls_on_a_wrong_node_are_307_to_the_owner(
        three_nodes: list[RunningNode]) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    entry = three_nodes[0].url
    async with aiohttp.ClientSession(headers=headers) as http:
        created: dict[str, int] = {}
        for i in range(3):
            status, url, body = await follow(http, "POST", f"{entry}/v1/rooms",
                                             json={"id": f"rest-{i}"})
            assert status == 201, body
            created[f"rest-{i}"] = node_of(three_nodes, url.replace("http", "ws", 1))
        assert sorted(created.values()) == [0, 1, 2]
        room, owner = next((r, n) for r, n in created.items() if n != 0)
        async with http.get(f"{entry}/v1/rooms/{room}", allow_redirects=False) as reply:
            assert reply.status == 307
            assert reply.headers["Location"] == f"{three_nodes[owner].url}/v1/rooms/{room}"
        status, _, body = await follow(http, "GET", f"{entry}/v1/rooms/{room}")
        assert status == 200 and body["id"] == room  # type: ignore[index]
        status, _, listing = await follow(http, "GET", f"{three_nodes[2].url}/v1/cluster")
        assert status == 200
        assert len(listing["nodes"]) == 3  # type: ignore[index]
        assert {r["id"]: r["url"] for r in listing["rooms"]} == {  # type: ignore[index]
            r: three_nodes[n].url for r, n in created.items()}
        status, _, _ = await follow(http, "DELETE", f"{entry}/v1/rooms/{room}")
        assert status == 204  # on the owner, which closes the room and releases it
        _, _, listing = await follow(http, "GET", f"{entry}/v1/cluster")
        assert room not in {r["id"] for r in listing["rooms"]}  # type: ignore[index]


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as reply:
        return reply.status


async def wait_status(url: str, status: int, timeout_s: float) -> float:
    """Seconds until /readyz answers `status` (bounded)."""
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(timeout_s):
        while await status_of(url) != status:
            await asyncio.sleep(0.1)
    return asyncio.get_running_loop().time() - started


async def test_redis_restarted_rooms_run_on_and_new_joins_work_again(
        node_factory: Callable[..., object], clients: Clients) -> None:
    redis = RedisServer()
    redis.start()
    try:
        node: RunningNode = await node_factory(  # type: ignore[misc]
            redis_url=redis.url, heartbeat_s=0.3, node_ttl_s=1.0, redis_timeout_s=0.3)
        assert await status_of(node.url) == 200
        tutor = await clients.join(node, "running", "tutor", Role.TUTOR)
        redis.stop()
        await wait_status(node.url, 503, timeout_s=5)
        # the running lesson is untouched: a new participant of it still gets in
        learner = await clients.join(node, "running", "learner")
        await tutor.wait_for(lambda c: c.events_of(ParticipantJoined))
        refused = clients.new(node, "new-room", "learner2")
        with pytest.raises(ClientError) as error:
            await refused.join()
        assert error.value.code == "placement_unavailable"
        assert error.value.retry_after_s
        redis.start()  # same port, empty
        back = await wait_status(node.url, 200, timeout_s=5)
        assert back < 3, back
        again = await clients.join(node, "new-room", "learner3")
        assert again.joined is not None
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{node.url}/v1/cluster") as reply:
                listing = await reply.json()
        assert {r["id"] for r in listing["rooms"]} == {"running", "new-room"}  # re-asserted
        assert learner.joined is not None
    finally:
        redis.stop()
