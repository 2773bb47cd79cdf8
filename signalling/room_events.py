"""Room events: what the platform and admins watch of a room, on any node of the cluster.

Rooms live on one node (redirect, not relay): media and signalling never cross nodes. What
must cross is a room's story: started, who joined, left, dropped and came back (pseudonym
and role only: never a display name, never an address), mute changes, recording started
and stopped, moved (a drain) and closed. `RoomEventSink` observes the node through its hooks
(Node.room_opened / room_closed, RoomHub.on_events, RecordingService.started / stopping,
Drain.room_moved) and knows nothing of HTTP or Redis; `EventPublisher` appends each event,
in order and from one task, to the room's stream (event_stream.py: memory, or a Redis
Stream per room), so a join never waits on Redis and a failing Redis never breaks one
(logged once per outage, counted in `liveroom_room_events_dropped_total`). Consumers read
the stream as Server-Sent Events (room_events_sse.py, `GET /v1/rooms/{id}/events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from media import room as domain
from media.ids import Identity, LeaveReason, Role, RoomId
from recorder.room_recording import RoomRecording

from .cluster import CLUSTER
from .directory import NodeId
from .drain import DRAIN
from .event_stream import EventStreamUnavailable, MemoryEventLog, RoomEventLog
from .hub import RoomHub
from .keys import REGISTRY
from .node import Node
from .recording import RECORDING
from .settings import Settings

log = structlog.get_logger(__name__)

QUEUE_MAX = 10_000  # events owed to the stream at most; past it the oldest is dropped
MAX_CONSUMERS = 32  # SSE consumers per node at once (each holds one blocking read)


class EventType(StrEnum):
    ROOM_STARTED = "room_started"
    PARTICIPANT_JOINED = "participant_joined"
    PARTICIPANT_LEFT = "participant_left"
    PARTICIPANT_RECONNECTING = "participant_reconnecting"
    PARTICIPANT_RESUMED = "participant_resumed"
    TRACK_MUTED = "track_muted"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    ROOM_MOVED = "room_moved"
    ROOM_CLOSED = "room_closed"


@dataclass(frozen=True)
class RoomEventRecord:
    """One event as the stream keeps it: `{"type", "room", "node", "at", ...data}`."""

    type: EventType
    room: RoomId
    node: str
    """The node that hosted the room when it happened."""
    at: float
    """Wall time (seconds since the epoch, ms precision)."""
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"type": str(self.type), "room": self.room, "node": self.node,
                           "at": round(self.at, 3), **self.data}, separators=(",", ":"))


def event_type_of(raw: str) -> str:
    """An event's type as its JSON says (`message` if it has none: SSE's default)."""
    try:
        value = json.loads(raw).get("type")
    except (ValueError, AttributeError):
        return "message"
    return value if isinstance(value, str) and value.isidentifier() else "message"


def shape(event: domain.RoomEvent, roles: Mapping[Identity, Role]
          ) -> tuple[EventType, dict[str, Any]] | None:
    """What the stream says of one of the room's own events (None: not for the stream).
    Participants by pseudonym and role only; `roles` are those seated."""
    match event:
        case domain.ParticipantJoined(participant):
            return EventType.PARTICIPANT_JOINED, {"participant": participant.identity,
                                                  "role": str(participant.role)}
        case domain.ParticipantLeft(identity, reason):
            return EventType.PARTICIPANT_LEFT, {"participant": identity,
                                                "role": _role(roles, identity),
                                                "reason": str(reason)}
        case domain.ParticipantReconnecting(identity):
            return EventType.PARTICIPANT_RECONNECTING, {"participant": identity,
                                                        "role": _role(roles, identity)}
        case domain.ParticipantResumed(identity):
            return EventType.PARTICIPANT_RESUMED, {"participant": identity,
                                                   "role": _role(roles, identity)}
        case domain.TrackMuted(publication, muted):
            return EventType.TRACK_MUTED, {"participant": publication.owner,
                                           "kind": str(publication.kind), "muted": muted}
    return None  # publications come and go with the media: not the room's story


def _role(roles: Mapping[Identity, Role], identity: Identity) -> str | None:
    role = roles.get(identity)
    return str(role) if role is not None else None


Publish = Callable[[RoomId, str], None]


class RoomEventSink:
    """The node's hooks, turned into room events handed to `publish(room, json)`."""

    def __init__(self, node_id: str, publish: Publish,
                 wall: Callable[[], float] = time.time) -> None:
        self.node_id = node_id
        self._publish = publish
        self.wall = wall
        self.seated: dict[RoomId, dict[Identity, Role]] = {}  # per open room
        self.moved: set[RoomId] = set()  # moving (a drain): no leaves, no room_closed

    def emit(self, room: RoomId, event_type: EventType, data: Mapping[str, Any]) -> None:
        """Never raises: the room goes on whatever becomes of its events."""
        try:
            record = RoomEventRecord(event_type, room, self.node_id, self.wall(), data)
            self._publish(room, record.to_json())
        except Exception:
            log.exception("room_event_failed", room=room, type=str(event_type))

    def room_opened(self, hub: RoomHub) -> None:
        room = hub.id
        self.seated[room] = {}
        self.moved.discard(room)
        hub.on_events.append(lambda events: self.room_events(room, events))
        self.emit(room, EventType.ROOM_STARTED,
                  {"max_participants": hub.room.max_participants})

    def room_events(self, room: RoomId, events: list[domain.RoomEvent]) -> None:
        seated = self.seated.setdefault(room, {})
        for event in events:
            if isinstance(event, domain.ParticipantJoined):
                seated[event.participant.identity] = event.participant.role
            shaped = shape(event, seated)
            if isinstance(event, domain.ParticipantLeft):
                seated.pop(event.identity, None)
            if shaped is not None:
                self.emit(room, *shaped)

    def room_moved(self, room: RoomId, to: NodeId | None) -> None:
        """A drain moves the room (`to` None: cut at the deadline, its participants rejoin
        through the entry URL): the stream goes on with the next owner's events."""
        self.moved.add(room)
        self.emit(room, EventType.ROOM_MOVED, {"to": to})

    async def room_closed(self, hub: RoomHub, reason: LeaveReason) -> None:
        seated = self.seated.pop(hub.id, {})
        if hub.id in self.moved:
            self.moved.discard(hub.id)
            return
        for identity, role in seated.items():
            self.emit(hub.id, EventType.PARTICIPANT_LEFT,
                      {"participant": identity, "role": str(role), "reason": str(reason)})
        self.emit(hub.id, EventType.ROOM_CLOSED, {"reason": str(reason)})

    def recording_started(self, room: RoomId, recording: RoomRecording) -> None:
        self.emit(room, EventType.RECORDING_STARTED, {"session": recording.session})

    def recording_stopped(self, room: RoomId, recording: RoomRecording) -> None:
        self.emit(room, EventType.RECORDING_STOPPED, {"session": recording.session})


class EventPublisher:
    """Appends events to their rooms' streams in the order they happened, from one task.
    Each append is bounded by the log; what fails or overflows is dropped and counted."""

    def __init__(self, event_log: RoomEventLog, timeout_s: float) -> None:
        self.log = event_log
        self.timeout_s = timeout_s
        self.published = 0
        self.dropped = 0
        self._queue: deque[tuple[RoomId, str]] = deque()
        self._wake = asyncio.Event()
        self._failing = False
        self._sending = False
        self._task: asyncio.Task[None] | None = None

    def publish(self, room: RoomId, event: str) -> None:
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self._drop("queue_full")
        self._queue.append((room, event))
        self._wake.set()

    def _drop(self, why: str, error: str = "") -> None:
        self.dropped += 1
        if not self._failing:  # once per outage, not once per event
            self._failing = True
            log.warning("room_events_dropping", why=why, error=error[:200])

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                room, event = self._queue.popleft()
                self._sending = True
                try:
                    async with asyncio.timeout(self.timeout_s * 2):
                        await self.log.append(room, event)
                except (EventStreamUnavailable, TimeoutError) as exc:
                    self._drop("unavailable", str(exc))
                else:
                    self.published += 1
                    if self._failing:
                        self._failing = False
                        log.info("room_events_publishing")
                finally:
                    self._sending = False

    def _owed(self) -> bool:
        return bool(self._queue) or self._sending

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self, flush_s: float) -> None:
        """Hand over what is queued (within `flush_s`), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_s):
                while self._owed() and self._task is not None and not self._task.done():
                    await asyncio.sleep(0.01)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.dropped += len(self._queue)
        self._queue.clear()


def create_event_log(settings: Settings, max_readers: int) -> RoomEventLog:
    """`LIVEROOM_REDIS_URL` empty: this node's memory; else a Redis Stream per room
    (`max_readers` blocking reads at once, each on its own connection)."""
    if not settings.redis_url:
        return MemoryEventLog(settings.room_events_maxlen)
    from .event_stream_redis import RedisEventLog  # only a cluster node needs redis-py

    return RedisEventLog(settings.redis_url, maxlen=settings.room_events_maxlen,
                         timeout_s=settings.redis_timeout_s, max_readers=max_readers)


class RoomEvents:
    """This node's side of the room events: what it publishes, what its consumers read."""

    def __init__(self, node: Node, node_id: str, event_log: RoomEventLog) -> None:
        self.node = node
        self.log = event_log
        self.publisher = EventPublisher(event_log, node.settings.redis_timeout_s)
        self.sink = RoomEventSink(node_id, self.publisher.publish)
        self.max_s = node.settings.room_events_max_s
        self.max_consumers = MAX_CONSUMERS
        self.consumers = 0
        self.stopping = asyncio.Event()  # the node shuts down: every stream ends


class RoomEventsCollector(Collector):
    def __init__(self, events: RoomEvents) -> None:
        self.events = events

    def collect(self) -> Iterator[Metric]:
        p = self.events.publisher
        yield CounterMetricFamily("liveroom_room_events_published", "Room events appended "
                                  "to their rooms' streams", value=p.published)
        yield CounterMetricFamily("liveroom_room_events_dropped", "Room events lost (the "
                                  "stream unreachable, or the queue full)", value=p.dropped)
        yield GaugeMetricFamily("liveroom_room_event_consumers", "Room-event streams "
                                "(SSE) open on this node", value=self.events.consumers)


ROOM_EVENTS: web.AppKey[RoomEvents] = web.AppKey("room_events")


def setup(app: web.Application, node: Node) -> RoomEvents:
    """After cluster, recording and drain. The publisher starts before and stops after the
    node's own lifecycle (so the rooms its shutdown closes are told); every SSE stream ends
    at shutdown. The route: cluster_http.py."""
    events = RoomEvents(node, app[CLUSTER].node_id,
                        create_event_log(node.settings, MAX_CONSUMERS))
    app[ROOM_EVENTS] = events
    app[REGISTRY].register(RoomEventsCollector(events))
    sink = events.sink
    node.room_opened.append(sink.room_opened)
    node.room_closed.append(sink.room_closed)
    app[DRAIN].room_moved.append(sink.room_moved)
    recording = app.get(RECORDING)
    if recording is not None:
        recording.started.append(sink.recording_started)
        recording.stopping.append(sink.recording_stopped)

    async def end_streams(app: web.Application) -> None:
        events.stopping.set()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        events.publisher.start()
        yield
        s = node.settings  # within the cleanup's share of the exit bound (cli.serve)
        await events.publisher.stop(flush_s=min(s.redis_timeout_s * 2,
                                                s.shutdown_timeout_s / 16))
        await events.log.close()

    app.on_shutdown.append(end_streams)
    app.cleanup_ctx.insert(0, lifecycle)
    return events
