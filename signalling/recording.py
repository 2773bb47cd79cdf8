"""The recorder inside the node: one `Recorder` per node, one `RoomRecording` per room that
records. Wired by hooks only (Node.room_opened/room_closing, RoomHub.on_join/on_leave,
RoomMedia.feed_opened); everyone in a room is told when recording starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import structlog
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from media.feed import Feed
from media.ids import Identity, Role, RoomId
from recorder.config import RecorderSettings
from recorder.consent import Policy, RoomPolicy
from recorder.recorder import Recorder
from recorder.room_recording import RoomRecording
from recorder.sealing import LocalKek

from . import protocol as p
from .hub import RoomHub
from .keys import REGISTRY
from .node import Node
from .tokens import TokenClaims

log = structlog.get_logger(__name__)

PURGE_EVERY_S = 3600.0


class RecordingService:
    def __init__(self, node: Node, settings: RecorderSettings) -> None:
        data_dir = node.settings.data_dir
        wrapper = (LocalKek.from_text(settings.kek) if settings.kek
                   else LocalKek.in_data_dir(data_dir / "recording-kek"))
        self.node = node
        self.settings = settings
        self.recorder = Recorder(
            data_dir / "recordings", wrapper, segment_s=settings.segment_s,
            queue_packets=settings.queue_packets, retention_days=settings.retention_days,
            clock=node.clock)
        self.active: dict[RoomId, RoomRecording] = {}
        self.members: dict[RoomId, dict[str, tuple[Role, bool]]] = {}
        self.recovered: list[str] | None = None  # None until start-up recovery is done
        node.room_opened.append(self.room_opened)
        node.room_closing.append(self.room_closing)

    def default_policy(self) -> RoomPolicy:
        return RoomPolicy(self.settings.policy, self.settings.learner_video)

    # --- hooks ------------------------------------------------------------------------

    def room_opened(self, hub: RoomHub) -> None:
        self.members[hub.id] = {}
        hub.on_join.append(lambda claims: self.joined(hub, claims))
        hub.on_leave.append(lambda identity: self.left(hub, identity))
        hub.media.feed_opened.append(lambda feed: self.feed_opened(hub, feed))
        if self.settings.auto_start and self.settings.policy is not Policy.OFF:
            self.start(hub, self.default_policy())

    def joined(self, hub: RoomHub, claims: TokenClaims) -> None:
        consent = claims.consent is not None and claims.consent.recording
        self.members.setdefault(hub.id, {})[claims.sub] = (claims.role, consent)
        recording = self.active.get(hub.id)
        if recording is not None:
            recording.joined(claims.sub, claims.role, consent)
            conn = hub.connections.get(Identity(claims.sub))
            if conn is not None:
                conn.send(p.RecordingState(active=True, recorded=recording.recorded()))

    def left(self, hub: RoomHub, identity: Identity) -> None:
        recording = self.active.get(hub.id)
        if recording is not None:
            recording.left(identity)

    def feed_opened(self, hub: RoomHub, feed: Feed) -> None:
        recording = self.active.get(hub.id)
        if recording is not None and recording.feed_opened(feed):
            self._tell(hub, recording)

    async def room_closing(self, hub: RoomHub) -> None:
        await self.stop(hub)
        self.members.pop(hub.id, None)

    # --- start / stop -----------------------------------------------------------------

    def start(self, hub: RoomHub, policy: RoomPolicy) -> RoomRecording:
        if hub.id in self.active:
            return self.active[hub.id]
        recording = self.recorder.start(hub.id, policy)
        self.active[hub.id] = recording
        for identity, (role, consent) in self.members.get(hub.id, {}).items():
            recording.joined(identity, role, consent)
        for feed in list(hub.media.feeds.values()):
            recording.feed_opened(feed)
        self._tell(hub, recording)
        return recording

    async def stop(self, hub: RoomHub) -> bool:
        recording = self.active.pop(hub.id, None)
        if recording is None:
            return False
        message = p.RecordingState(active=False)
        for conn in hub.connections.values():
            conn.send(message)
        await recording.stop()
        return True

    def _tell(self, hub: RoomHub, recording: RoomRecording) -> None:
        message = p.RecordingState(active=True, recorded=recording.recorded())
        for conn in hub.connections.values():
            conn.send(message)

    async def close(self) -> None:
        for room_id in list(self.active):
            hub = self.node.hubs.get(room_id)
            recording = self.active.pop(room_id)
            if hub is not None:
                for conn in hub.connections.values():
                    conn.send(p.RecordingState(active=False))
            await recording.stop()

    async def housekeeping(self, stale: list[str]) -> None:
        """Recover what a crash left open (`stale`: the sessions on disk at start-up), then
        purge expired recordings every hour."""
        self.recovered = await asyncio.to_thread(self.recorder.recover, stale)
        if self.recovered:
            log.info("recordings_recovered", sessions=len(self.recovered))
        while True:
            await asyncio.to_thread(self.recorder.purge)
            await asyncio.sleep(PURGE_EVERY_S)


class RecorderCollector(Collector):
    def __init__(self, service: RecordingService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        c = self.service.recorder.counters
        for name, text, value in (
            ("liveroom_recorded_bytes", "Sealed bytes the recorder wrote", c.bytes),
            ("liveroom_recorded_segments", "Segments the recorder sealed", c.segments),
            ("liveroom_recorder_drops", "Packets the recorder dropped (full queue)", c.drops),
            ("liveroom_recorder_recoveries", "Open segments recovered after a crash",
             c.recoveries),
            ("liveroom_recorder_upload_failures", "Segment uploads that failed",
             c.upload_failures),
        ):
            yield CounterMetricFamily(name, text, value=value)


RECORDING: web.AppKey[RecordingService] = web.AppKey("recording")


def setup(app: web.Application, node: Node) -> None:
    service = RecordingService(node, node.settings.recording)
    app[RECORDING] = service
    app[REGISTRY].register(RecorderCollector(service))
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    service = app[RECORDING]
    stale = service.recorder.sessions()  # before any room can start a new one
    task = asyncio.get_running_loop().create_task(service.housekeeping(stale))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await service.close()
