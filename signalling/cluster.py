"""The node in its cluster: heartbeat, placement by the room directory, redirects.

The node keeps its own `hubs` (what it hosts); the directory (signalling/directory/) says
which node hosts a room. A join for a room another live node owns is answered with
`wrong_node` and the owner's URL (redirect, not relay: no signal crosses nodes), a REST
room call with 307 (cluster_http.py). With the embedded directory every room is this
node's, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from importlib import metadata

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from media.ids import RoomId

from .directory import (
    DirectoryUnavailable,
    NodeId,
    NodeRecord,
    NodeState,
    Owner,
    RoomDirectory,
    create_directory,
)
from .errors import SignalCode, SignalError
from .hub import RoomHub
from .keys import REGISTRY
from .node import Node

log = structlog.get_logger(__name__)

PLACEMENT_RETRY_S = 2.0


def room_socket_url(owner: Owner, room: RoomId) -> str:
    """The room's WebSocket on its owner (`ws://owner/v1/rooms/{room}/ws`)."""
    return f"{owner.url.rstrip('/').replace('http', 'ws', 1)}/v1/rooms/{room}/ws"


class WrongNode(SignalError):
    """The room is hosted by another live node: go there (`url`, its room socket)."""

    def __init__(self, room: RoomId, owner: Owner) -> None:
        super().__init__(SignalCode.WRONG_NODE, f"room {room} is on another node; "
                         "join it there")
        self.base_url = owner.url.rstrip("/")
        self.url = room_socket_url(owner, room)


class PlacementUnavailable(SignalError):
    """The directory cannot place a room now (unreachable, or no serving node)."""

    def __init__(self, why: str) -> None:
        super().__init__(SignalCode.PLACEMENT_UNAVAILABLE,
                         f"cannot place the room now ({why}); retry in "
                         f"{PLACEMENT_RETRY_S:g} s")
        self.retry_after_s = PLACEMENT_RETRY_S


def _version() -> str:
    try:
        return metadata.version("liveroom")
    except metadata.PackageNotFoundError:
        return "unknown"


class Cluster:
    """This node's membership: it registers and renews its rooms' leases every
    `LIVEROOM_HEARTBEAT_S`, places rooms through the directory, releases the rooms it
    closes. `reachable` is false while the directory does not answer."""

    def __init__(self, node: Node, directory: RoomDirectory) -> None:
        self.node = node
        self.directory = directory
        self.settings = node.settings
        self.node_id = directory.node_id
        self.url = self.settings.base_url()
        self.state = NodeState.CANARY if self.settings.canary else NodeState.SERVING
        self.reachable = True
        self.version = _version()
        self._task: asyncio.Task[None] | None = None
        self._bound = self.settings.redis_timeout_s * 2
        self._latency: Histogram | None = None
        self._errors: Counter | None = None

    def add_metrics(self, registry: CollectorRegistry) -> None:
        self._latency = Histogram(
            "liveroom_directory_seconds", "Time of each directory call", ["op"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry)
        self._errors = Counter("liveroom_directory_errors", "Directory calls that failed "
                               "(unreachable or timed out)", ["op"], registry=registry)

    @contextlib.contextmanager
    def _timed(self, op: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except (DirectoryUnavailable, TimeoutError):
            if self._errors is not None:
                self._errors.labels(op).inc()
            raise
        finally:
            if self._latency is not None:
                self._latency.labels(op).observe(time.monotonic() - started)

    def record(self) -> NodeRecord:
        return NodeRecord(id=self.node_id, url=self.url, state=self.state,
                          load=round(self.node.admission.mean_cpu_cores, 3),
                          rooms=len(self.node.hubs), version=self.version,
                          overloaded=self.node.admission.overloaded
                          and self.settings.admission_refuse,
                          canary_share=self.settings.canary_share if self.settings.canary
                          else 0.0,
                          canary_by=self.settings.canary_by)

    async def heartbeat(self) -> bool:
        """Register and renew once; whether the directory answered."""
        try:
            with self._timed("heartbeat"):
                async with asyncio.timeout(self._bound):
                    await self.directory.register(self.record(), self.settings.node_ttl_s)
                    lost = await self.directory.renew(list(self.node.hubs))
        except (DirectoryUnavailable, TimeoutError) as exc:
            if self.reachable:
                log.warning("directory_unreachable", error=str(exc)[:200])
            self.reachable = False
            return False
        if not self.reachable:
            log.info("directory_reachable")
        self.reachable = True
        if lost:  # another node holds them (a split while the directory was away)
            log.warning("room_leases_lost", rooms=len(lost))
        return True

    async def run_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self.heartbeat()
            except Exception:
                log.exception("heartbeat_failed")

    async def place(self, room: RoomId, create: bool = True, cohort: str | None = None
                    ) -> None:
        """Before a join (or a room's creation): pass if this node hosts the room or the
        directory places it here; `WrongNode` if another live node owns it;
        `PlacementUnavailable` if it cannot be placed now. With `create` false (rooms are
        not auto-created) nothing is placed: only an owner elsewhere redirects. `cohort`:
        the joining token's, for canaries placing by cohort (directory/placement.py)."""
        hub = self.node.hubs.get(room)
        if hub is not None and not hub.room.closed:
            return
        try:
            owner = await self._placement(room, create, cohort)
        except (DirectoryUnavailable, TimeoutError) as exc:
            log.warning("placement_failed", room=room, error=str(exc)[:200])
            raise PlacementUnavailable("directory unreachable") from exc
        if owner is None:
            if create and not self.node.admission.overloaded:
                raise PlacementUnavailable("no serving node")
            return  # here: room_not_found, or node_overloaded with its retry advice
        if owner.node == self.node_id and self.state is NodeState.DRAINING:
            moved = await self.rehome(room)  # a lease left over: no new room here now
            if moved is None:
                raise PlacementUnavailable("this node is draining")
            owner = moved
        if owner.node != self.node_id:
            log.info("join_redirected", room=room, owner=owner.node)
            raise WrongNode(room, owner)

    async def _placement(self, room: RoomId, create: bool, cohort: str | None
                         ) -> Owner | None:
        with self._timed("claim" if create else "owner"):
            async with asyncio.timeout(self._bound):
                if not create:
                    return await self.directory.owner(room)
                owner = await self.directory.claim(room, cohort)
        if owner is None and await self.heartbeat():  # our own record had lapsed?
            with self._timed("claim"):
                async with asyncio.timeout(self._bound):
                    owner = await self.directory.claim(room, cohort)
        return owner

    async def owner_elsewhere(self, room: RoomId) -> Owner | None:
        """For a REST room call: the live owner if it is another node (else None, also
        when the directory does not answer: the call is then answered here)."""
        if room in self.node.hubs:
            return None
        try:
            with self._timed("owner"):
                async with asyncio.timeout(self._bound):
                    owner = await self.directory.owner(room)
        except (DirectoryUnavailable, TimeoutError):
            return None
        return owner if owner is not None and owner.node != self.node_id else None

    async def release(self, hub: RoomHub) -> None:
        """A room this node closes is released, if it still owns it (so the next join
        places it anew); a directory that does not answer lets the lease lapse."""
        with contextlib.suppress(DirectoryUnavailable, TimeoutError), self._timed("release"):
            async with asyncio.timeout(self._bound):
                await self.directory.release(hub.id)

    async def rehome(self, room: RoomId) -> Owner | None:
        """A drain moves a room: release it, then place it again (on another node: this
        one is draining, so placement skips it). The new owner, or None if no other node
        can take it now (the room is not this node's in the directory until the next
        heartbeat renews it)."""
        try:
            with self._timed("release"):
                async with asyncio.timeout(self._bound):
                    await self.directory.release(room)
            with self._timed("claim"):
                async with asyncio.timeout(self._bound):
                    owner = await self.directory.claim(room)
        except (DirectoryUnavailable, TimeoutError) as exc:
            log.warning("room_rehome_failed", room=room, error=str(exc)[:200])
            return None
        return owner if owner is not None and owner.node != self.node_id else None

    async def start(self) -> None:
        if self._task is None:
            if not await self.heartbeat():
                log.warning("node_unregistered", node=self.node_id)
            self._task = asyncio.get_running_loop().create_task(self.run_heartbeats())
            log.info("cluster_joined", node=self.node_id, directory=type(
                self.directory).__name__)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(DirectoryUnavailable, TimeoutError):
            async with asyncio.timeout(self._bound):
                await self.directory.deregister()
        await self.directory.close()


CLUSTER: web.AppKey[Cluster] = web.AppKey("cluster")


def setup(app: web.Application, node: Node) -> Cluster:
    """Wire the cluster into the app: the directory chosen by settings, its heartbeat in
    the app's lifecycle (after the node starts; it stops before the node's cleanup, and
    the node's shutdown releases its rooms first). The REST side: cluster_http.py."""
    node_id = NodeId(node.settings.node_id or uuid.uuid4().hex[:12])
    cluster = Cluster(node, create_directory(node.settings, node_id))
    app[CLUSTER] = cluster
    cluster.add_metrics(app[REGISTRY])
    node.room_closing.append(cluster.release)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await cluster.start()
        yield
        await cluster.close()

    app.cleanup_ctx.append(lifecycle)
    return cluster
