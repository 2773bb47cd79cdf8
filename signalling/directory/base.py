"""The room directory: which node hosts which room, and which nodes are alive.

One protocol, two implementations (LiveKit's routing seam): `MemoryDirectory` (memory.py),
the embedded default, one node and no services; `RedisDirectory` (redis.py), for a cluster.
`create_directory(settings)` (``__init__``) chooses by `LIVEROOM_REDIS_URL`.

A directory object is one node's handle: `node_id` is the node it speaks for. Placement is
atomic in both: `claim` returns the room's owner if that node is alive, else places the room
on the least-loaded live `serving` node (or on a `canary`, for its share: placement.py).
Only the owner releases (compare-and-delete) or renews; a takeover is a compare-and-swap on
the owner id, so one node wins it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import NewType, Protocol

from media.ids import RoomId

NodeId = NewType("NodeId", str)


class NodeState(StrEnum):
    SERVING = "serving"  # takes new rooms
    DRAINING = "draining"  # keeps its rooms, takes no new ones
    CANARY = "canary"  # its share of new rooms only (placement.py)


@dataclass(frozen=True)
class NodeRecord:
    """What a node says of itself in its heartbeat."""

    id: NodeId
    url: str
    """The node's base URL (`http://host:port`), where clients are redirected."""
    state: NodeState = NodeState.SERVING
    load: float = 0.0
    """Process CPU in cores over the admission window (a tie-breaker between nodes)."""
    rooms: int = 0
    version: str = ""
    overloaded: bool = False
    """Refusing new rooms (signalling/admission.py): placed on no more until it recovers."""
    canary_share: float = 0.0
    """A canary's share of new rooms, 0-1 (placement.py)."""
    canary_by: str = "room"
    """What a canary's bucket is of: `room` (the room id) or `cohort` (the token's)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> NodeRecord:
        data = json.loads(raw)
        return cls(id=NodeId(data["id"]), url=str(data["url"]), state=NodeState(data["state"]),
                   load=float(data["load"]), rooms=int(data["rooms"]),
                   version=str(data["version"]), overloaded=bool(data["overloaded"]),
                   canary_share=float(data.get("canary_share", 0.0)),
                   canary_by=str(data.get("canary_by", "room")))


@dataclass(frozen=True)
class Owner:
    """The node a room is placed on (alive when it was read)."""

    node: NodeId
    url: str


class DirectoryUnavailable(ConnectionError):
    """The directory could not be reached (Redis down): new placements fail clearly."""


class RoomDirectory(Protocol):
    node_id: NodeId

    async def register(self, record: NodeRecord, ttl_s: float) -> None:
        """Heartbeat: this node is alive for `ttl_s` more seconds, with this record."""

    async def deregister(self) -> None:
        """This node leaves now (only its own key)."""

    async def claim(self, room: RoomId, cohort: str | None = None) -> Owner | None:
        """The room's owner if alive, else place it (atomic) as placement.py's `choose`
        says: on the least-loaded live serving node that is not overloaded, or on a canary
        whose share covers the room (by `cohort`, the placing token's, if it says so);
        None if no node can take it."""

    async def owner(self, room: RoomId) -> Owner | None:
        """The room's owner if it is alive; places nothing."""

    async def renew(self, rooms: list[RoomId]) -> list[RoomId]:
        """Extend this node's leases of `rooms` (a room nobody owns, e.g. after Redis came
        back empty, is this node's again); returns those another node owns."""

    async def release(self, room: RoomId) -> bool:
        """Remove the room if this node owns it (compare-and-delete)."""

    async def takeover(self, room: RoomId, stale: NodeId) -> bool:
        """Take the room if `stale` still owns it and is not alive (compare-and-swap)."""

    async def rooms(self) -> dict[RoomId, NodeId]:
        """Every placed room and its owner, across the cluster (admin listing)."""

    async def nodes(self) -> list[NodeRecord]:
        """The live nodes."""

    async def ping(self) -> bool:
        """Whether the directory answers."""

    async def close(self) -> None: ...
