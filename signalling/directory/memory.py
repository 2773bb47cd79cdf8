"""The embedded directory: in this process, no services. One node by default; nodes that
share a `MemoryStore` form a cluster within one process (the contract tests do)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from media.ids import RoomId

from .base import NodeId, NodeRecord, Owner
from .placement import PlacementKey, choose


@dataclass
class MemoryStore:
    """The shared state; every method runs without awaiting, so each is atomic."""

    clock: Callable[[], float] = time.monotonic
    lease_s: float = 15.0
    nodes: dict[NodeId, tuple[NodeRecord, float]] = field(default_factory=dict)
    rooms: dict[RoomId, tuple[NodeId, float]] = field(default_factory=dict)
    placed: dict[NodeId, int] = field(default_factory=dict)  # since each one's heartbeat

    def alive(self, node: NodeId) -> NodeRecord | None:
        entry = self.nodes.get(node)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self.nodes[node]
            return None
        return entry[0]

    def owner_id(self, room: RoomId) -> NodeId | None:
        entry = self.rooms.get(room)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self.rooms[room]
            return None
        return entry[0]

    def place(self, key: PlacementKey) -> NodeRecord | None:
        live = [r for r in (self.alive(n) for n in list(self.nodes)) if r is not None]
        return choose(((r, r.rooms + self.placed.get(r.id, 0)) for r in live), key)


class MemoryDirectory:
    def __init__(self, node_id: NodeId, store: MemoryStore | None = None) -> None:
        self.node_id = node_id
        self.store = store or MemoryStore()

    async def register(self, record: NodeRecord, ttl_s: float) -> None:
        s = self.store
        s.nodes[self.node_id] = (record, s.clock() + ttl_s)
        s.placed.pop(self.node_id, None)

    async def deregister(self) -> None:
        self.store.nodes.pop(self.node_id, None)

    async def claim(self, room: RoomId, cohort: str | None = None) -> Owner | None:
        s = self.store
        current = s.owner_id(room)
        record = s.alive(current) if current is not None else None
        if record is None:
            record = s.place(PlacementKey.of(room, cohort))
            if record is None:
                return None
            s.rooms[room] = (record.id, s.clock() + s.lease_s)
            s.placed[record.id] = s.placed.get(record.id, 0) + 1
        return Owner(record.id, record.url)

    async def owner(self, room: RoomId) -> Owner | None:
        current = self.store.owner_id(room)
        record = self.store.alive(current) if current is not None else None
        return Owner(record.id, record.url) if record is not None else None

    async def renew(self, rooms: list[RoomId]) -> list[RoomId]:
        s = self.store
        lost = []
        for room in rooms:
            if s.owner_id(room) in (self.node_id, None):
                s.rooms[room] = (self.node_id, s.clock() + s.lease_s)
            else:
                lost.append(room)
        return lost

    async def release(self, room: RoomId) -> bool:
        if self.store.owner_id(room) != self.node_id:
            return False
        del self.store.rooms[room]
        return True

    async def takeover(self, room: RoomId, stale: NodeId) -> bool:
        s = self.store
        if s.owner_id(room) != stale or s.alive(stale) is not None:
            return False
        s.rooms[room] = (self.node_id, s.clock() + s.lease_s)
        return True

    async def rooms(self) -> dict[RoomId, NodeId]:
        s = self.store
        return {room: owner for room in list(s.rooms)
                if (owner := s.owner_id(room)) is not None}

    async def nodes(self) -> list[NodeRecord]:
        s = self.store
        return [r for r in (s.alive(n) for n in list(s.nodes)) if r is not None]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
