"""Which live node a new room goes to: the decision both directories make, in Python here
(memory.py uses it) and in the Redis claim's Lua (redis.py), which mirrors it line by line
and gets the same buckets from `PlacementKey` (tests/integration/test_directory.py checks
both against `choose`).

Canary: a node in `canary` state takes a room only if the room's canary bucket is below
the node's `canary_share` of the BUCKETS (its heartbeat says both the share and what the
bucket is of: the room id, or the cohort of the token that places the room). Such a room
goes to the least-loaded canary that takes it; every other room to the least-loaded
`serving` node; a canary takes rooms beyond its share only when no serving node is left
(a lesson placed on a canary beats a lesson refused). Draining and overloaded nodes take
none. "Least loaded": fewest rooms (counting those placed since its heartbeat), then CPU,
then id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from media.ids import RoomId

from ..flags import share_buckets, stable_bucket
from .base import NodeRecord, NodeState

CANARY_SALT = "canary"
NO_COHORT = -1


@dataclass(frozen=True)
class PlacementKey:
    """A room's canary buckets: of its id, and of the placing token's cohort (if any)."""

    room: int
    cohort: int = NO_COHORT

    @classmethod
    def of(cls, room: RoomId, cohort: str | None = None) -> PlacementKey:
        return cls(stable_bucket(CANARY_SALT, room),
                   NO_COHORT if cohort is None else stable_bucket(CANARY_SALT, cohort))


def takes_canary_room(record: NodeRecord, key: PlacementKey) -> bool:
    """Whether this canary node's share covers the room."""
    bucket = key.cohort if record.canary_by == "cohort" and key.cohort != NO_COHORT else (
        key.room)
    return bucket < share_buckets(record.canary_share)


def choose(candidates: Iterable[tuple[NodeRecord, int]], key: PlacementKey
           ) -> NodeRecord | None:
    """The node for a new room among live `(record, rooms)` (rooms: its count now,
    including those placed since its heartbeat); None if none can take it."""
    pools: list[list[tuple[int, float, str, NodeRecord]]] = [[], [], []]
    for record, rooms in candidates:
        if record.overloaded:
            continue
        if record.state is NodeState.SERVING:
            pool = 1
        elif record.state is NodeState.CANARY:
            pool = 0 if takes_canary_room(record, key) else 2
        else:
            continue
        pools[pool].append((rooms, record.load, record.id, record))
    for found in pools:  # this room's canaries, then serving nodes, then any canary
        if found:
            return min(found, key=lambda c: c[:3])[3]
    return None
