"""Drain: the node takes no new rooms, moves the ones it hosts, and exits when empty.

Started by `POST /v1/node/drain` (`liveroom drain`) or by SIGTERM when
`LIVEROOM_DRAIN_ON_SIGTERM` is set. In order:

1. the node's heartbeat says `draining` (sent at once): placement skips it, `/readyz` is 503;
2. each room, one after the other: taken out of the node's rooms (its lease is no longer
   renewed), released in the directory and placed again (on another node: this one is
   draining); its participants get `move` with the room's socket on the new owner and
   close 4308; they rejoin there with their resume tokens. Nobody is told that anyone left:
   the old node sends nothing else, the new one announces each mover as joined;
3. a room no other node can take now stays (running) and is tried again every
   `RETRY_S`, until the deadline; at the deadline the rest get `move` with no URL (rejoin
   through the entry URL) and close;
4. once empty the drain is done: `on_drained` runs (the `liveroom serve` process then stops
   itself, as on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from media.ids import LeaveReason, RoomId

from . import protocol as p
from .cluster import CLUSTER, Cluster, room_socket_url
from .directory import NodeId, NodeState
from .keys import NODE, REGISTRY
from .node import Node

log = structlog.get_logger(__name__)

RETRY_S = 1.0  # a room no other node could take is tried again this often
MAX_DEADLINE_S = 24 * 3600.0


class Drain:
    """This node's drain. `start(deadline_s)` begins it once (a second call changes
    nothing); `run` is the drain itself, awaited by SIGTERM's shutdown."""

    def __init__(self, node: Node, cluster: Cluster,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.cluster = cluster
        self.clock = clock
        self.started_at: float | None = None
        self.deadline_s: float | None = None
        self.finished_at: float | None = None
        self.moved = 0  # rooms moved to another node
        self.cut = 0  # rooms closed at the deadline with no node to go to
        self.on_drained: list[Callable[[], None]] = []
        self.room_moved: list[Callable[[RoomId, NodeId | None], None]] = []  # before it closes
        self._task: asyncio.Task[None] | None = None
        self._moved_total: Counter | None = None

    def add_metrics(self, registry: CollectorRegistry) -> None:
        gauge = Gauge("liveroom_node_draining", "1 while this node drains (no new rooms; "
                      "its rooms move to other nodes)", registry=registry)
        gauge.set_function(lambda: float(self.started_at is not None))
        self._moved_total = Counter("liveroom_rooms_moved", "Rooms a drain moved, by "
                                    "outcome", ["outcome"], registry=registry)

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def start(self, deadline_s: float) -> bool:
        """Begin the drain in the background; False if it had begun already."""
        if self._task is not None:
            return False
        self._task = asyncio.get_running_loop().create_task(self._drain_then_tell(deadline_s))
        return True

    async def _drain_then_tell(self, deadline_s: float) -> None:
        await self.run(deadline_s)
        for drained in self.on_drained:
            drained()

    async def run(self, deadline_s: float) -> None:
        """Drain until empty or `deadline_s` (returns at once if already drained)."""
        if self.finished_at is not None:
            return
        if self.started_at is None:
            self.started_at, self.deadline_s = self.clock(), deadline_s
            self.cluster.state = NodeState.DRAINING
            log.info("node_draining", rooms=len(self.node.hubs), deadline_s=deadline_s)
            await self.cluster.heartbeat()  # now, not at the next beat: placement skips us
        until = self.started_at + (self.deadline_s or 0.0)
        while True:
            for room in list(self.node.hubs):
                await self._move(room, final=False)
            left = until - self.clock()
            if not self.node.hubs or left <= 0:
                break
            await asyncio.sleep(min(RETRY_S, left))
        for room in list(self.node.hubs):
            await self._move(room, final=True)
        if self.finished_at is None:
            self.finished_at = self.clock()
            log.info("node_drained", moved=self.moved, cut=self.cut,
                     took_s=round(self.finished_at - self.started_at, 3))

    async def _move(self, room: RoomId, final: bool) -> None:
        hub = self.node.hubs.pop(room, None)  # no lease renewal, no tick, while it moves
        if hub is None:
            return
        owner = await self.cluster.rehome(room)
        if owner is None and not final:
            self.node.hubs[room] = hub  # no node can take it now: it runs on here
            return
        url = room_socket_url(owner, room) if owner is not None else None
        for observe in self.room_moved:  # None: cut at the deadline, rejoin via the entry URL
            observe(room, owner.node if owner is not None else None)
        await self.node.retire(hub, LeaveReason.SERVER_SHUTDOWN, p.Move(url=url))
        outcome = "moved" if owner is not None else "cut"
        if owner is not None:
            self.moved += 1
        else:
            self.cut += 1
        if self._moved_total is not None:
            self._moved_total.labels(outcome).inc()
        log.info("room_moved" if owner is not None else "room_cut", room=room,
                 to=owner.node if owner is not None else None)

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "node": self.cluster.node_id, "state": self.cluster.state.value,
            "rooms": len(self.node.hubs), "moved": self.moved, "cut": self.cut,
            "draining_for_s": None if self.started_at is None
            else round((self.finished_at or now) - self.started_at, 3),
            "deadline_s": self.deadline_s, "drained": self.finished_at is not None,
        }

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


DRAIN: web.AppKey[Drain] = web.AppKey("drain")


class DrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    deadline_s: float | None = Field(None, ge=0, le=MAX_DEADLINE_S)
    """Default: LIVEROOM_DRAIN_DEADLINE_S."""


async def start_drain(request: web.Request) -> web.Response:
    """`POST /v1/node/drain {deadline_s?}`: 202 and the drain's status."""
    drain = request.app[DRAIN]
    body: object = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            body = None
    try:
        asked = DrainRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        return web.json_response({"error": {"code": "invalid_request",
                                            "message": f"{where}: {first['msg']}"}},
                                 status=400)
    deadline = asked.deadline_s
    drain.start(drain.node.settings.drain_deadline_s if deadline is None else deadline)
    await asyncio.sleep(0)  # the drain's first step (state draining) has begun
    return web.json_response(drain.status(), status=202)


async def node_status(request: web.Request) -> web.Response:
    """`GET /v1/node`: this node's id, state, rooms and drain progress."""
    return web.json_response(request.app[DRAIN].status())


def setup(app: web.Application) -> Drain:
    """After cluster.setup. SIGTERM with `drain_on_sigterm` drains before the node's own
    shutdown closes what is left (this shutdown hook runs first)."""
    node, cluster = app[NODE], app[CLUSTER]
    drain = Drain(node, cluster)
    app[DRAIN] = drain
    drain.add_metrics(app[REGISTRY])
    app.router.add_post("/v1/node/drain", start_drain)
    app.router.add_get("/v1/node", node_status)

    async def drain_on_sigterm(app: web.Application) -> None:
        if node.settings.drain_on_sigterm:
            await drain.run(node.settings.drain_deadline_s)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await drain.close()

    app.on_shutdown.insert(0, drain_on_sigterm)
    app.cleanup_ctx.append(lifecycle)
    return drain
