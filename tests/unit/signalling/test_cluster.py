"""The node's side of the cluster on the embedded directory (no network): placement here,
a redirect to another live node with its URL, release on close, readiness."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.ids import LeaveReason, RoomId
from media.peer import PeerConfig
from signalling.cluster import Cluster, PlacementUnavailable, WrongNode
from signalling.directory import MemoryDirectory, MemoryStore, NodeId, NodeRecord, NodeState
from signalling.directory.base import Owner
from signalling.errors import SignalCode, SignalError
from signalling.node import Node
from signalling.settings import Settings

ROOM = RoomId("r1")


def cluster_node(tmp_path: Path, store: MemoryStore, node_id: str, port: int) -> Cluster:
    settings = Settings(data_dir=tmp_path, token_secret="s" * 32, api_key="k", port=port)
    node = Node(settings, PeerConfig())
    cluster = Cluster(node, MemoryDirectory(NodeId(node_id), store))
    node.room_closing.append(cluster.release)
    return cluster


def test_a_node_record_survives_its_json() -> None:
    record = NodeRecord(NodeId("n1"), "http://a:1", NodeState.DRAINING, 0.5, 3, "0.1.0", True)
    assert NodeRecord.from_json(record.to_json()) == record


def test_wrong_node_names_the_room_socket_on_the_owner() -> None:
    refused = WrongNode(ROOM, Owner(NodeId("n2"), "https://b.example:8443/"))
    assert refused.code is SignalCode.WRONG_NODE
    assert refused.url == "wss://b.example:8443/v1/rooms/r1/ws"
    assert refused.base_url == "https://b.example:8443"


async def test_the_embedded_directory_places_every_room_on_its_one_node(tmp_path: Path) -> None:
    cluster = cluster_node(tmp_path, MemoryStore(), "only", 8080)
    await cluster.start()
    try:
        await cluster.place(ROOM)
        cluster.node.hub_for_join(ROOM)
        assert await cluster.directory.rooms() == {ROOM: "only"}
        await cluster.node.close_room(ROOM, LeaveReason.ROOM_CLOSED)
        assert await cluster.directory.rooms() == {}  # released when it closed
    finally:
        await cluster.close()
        await cluster.node.close()


async def test_a_room_owned_by_another_live_node_is_a_redirect(tmp_path: Path) -> None:
    store = MemoryStore()
    a = cluster_node(tmp_path, store, "a", 8081)
    b = cluster_node(tmp_path, store, "b", 8082)
    await a.start()
    try:
        await a.place(ROOM)  # only a is alive: a owns it
        await b.start()
        with pytest.raises(WrongNode) as refused:
            await b.place(ROOM)
        assert refused.value.url == "ws://127.0.0.1:8081/v1/rooms/r1/ws"
        assert await b.owner_elsewhere(ROOM) == Owner(NodeId("a"), "http://127.0.0.1:8081")
        assert await a.owner_elsewhere(ROOM) is None
    finally:
        for cluster in (a, b):
            await cluster.close()


async def test_no_serving_node_is_placement_unavailable(tmp_path: Path) -> None:
    cluster = cluster_node(tmp_path, MemoryStore(), "a", 8080)
    cluster.state = NodeState.DRAINING
    await cluster.start()
    try:
        with pytest.raises(PlacementUnavailable) as refused:
            await cluster.place(ROOM)
        assert refused.value.retry_after_s > 0
        await cluster.place(ROOM, create=False)  # nothing to redirect to: answered here
    finally:
        await cluster.close()


async def test_an_overloaded_node_alone_answers_node_overloaded_not_placement(
        tmp_path: Path) -> None:
    cluster = cluster_node(tmp_path, MemoryStore(), "a", 8080)
    admission = cluster.node.admission
    for t in range(40):  # 10 s of saturated ticks: over the 0.85-core limit
        admission.observe(t * 0.25, 0.0, 1.0)
    assert admission.overloaded
    await cluster.start()
    try:
        assert cluster.record().overloaded
        await cluster.place(ROOM)  # passes: the node's own admission refuses the join
        with pytest.raises(SignalError) as refused:
            cluster.node.hub_for_join(ROOM)
        assert refused.value.code is SignalCode.NODE_OVERLOADED
    finally:
        await cluster.close()
